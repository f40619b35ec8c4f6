"""Command-line tools of the genailab Python package.

    python3 -m genailab health --target=127.0.0.1:50051        # exit 0 when SERVING (container health checks)
    python3 -m genailab report --target=... --model=... --data=cells.h5ad --out_dir=figures ...

Connection options (TLS, mutual TLS, bearer token) are shared by every subcommand; --token_file reads the
token from a file (e.g. a mounted Kubernetes secret) so it never appears in the process list.
"""
import argparse
import sys

from genailab import client as client_lib
from genailab import errors
from genailab import report


def _add_connection_flags(parser):
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of genailab-server")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    # The same names as the C++ `genailab` command's security flags.
    parser.add_argument("--tls_ca", help="PEM file of the CAs to trust; enables TLS")
    parser.add_argument("--tls_cert", help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--tls_key", help="client key (PEM) for mutual TLS")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    parser.add_argument("--token_file", help="file holding the bearer token")


def _connect(args):
    token = None
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as token_file:
            token = token_file.read().strip()
    return client_lib.Client(args.target, root_certificates=args.tls_ca, private_key=args.tls_key,
                             certificate_chain=args.tls_cert, token=token, tls=args.tls, timeout=args.timeout)


def _health(args):
    with _connect(args) as client:
        status = client.health(args.service)
    print(status)
    return 0 if status == "SERVING" else 1


def _report(args):
    with _connect(args) as client:
        return report.run(client, args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m genailab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    health = commands.add_parser("health", help="gRPC health check; exit 0 when SERVING, 1 otherwise")
    _add_connection_flags(health)
    health.add_argument("--service", default="", help="service to check ('' = the whole server)")
    health.set_defaults(run=_health)
    report_parser = commands.add_parser("report", help="PNG figures from a server's answers")
    _add_connection_flags(report_parser)
    report.add_flags(report_parser)
    report_parser.set_defaults(run=_report)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except errors.GenailabError as error:
        print(f"genailab: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"genailab: INVALID_ARGUMENT: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
