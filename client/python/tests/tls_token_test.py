"""genailab.Client's TLS, mutual TLS and bearer-token options with a throwaway certificate authority (made
with the openssl command): against an in-process Python gRPC server, and against the real genailab-server
started with --tls_cert/--tls_key/--tls_client_ca/--token_file."""
import os
import subprocess
import sys
import unittest
from concurrent import futures

import grpc

import genailab
import server_fixture
from genailab.v1 import generative_service_pb2 as pb
from genailab.v1 import generative_service_pb2_grpc as pb_grpc

TOKEN = "s3cret-token"


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_certificates(directory):
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by the CA."""
    def path(name):
        return os.path.join(directory, name)

    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=genailab test CA",
             "-keyout", path("ca.key"), "-out", path("ca.pem"))
    for name, extension in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                            ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", path(f"{name}.key"),
                 "-out", path(f"{name}.csr"))
        with open(path(f"{name}.ext"), "w", encoding="utf-8") as ext:
            ext.write(extension + "\n")
        _openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                 "-CAcreateserial", "-days", "1", "-extfile", path(f"{name}.ext"), "-out", path(f"{name}.pem"))


class _TokenCheckingService(pb_grpc.GenerativeServiceServicer):
    """Answers ListModels with one model for callers that present TOKEN; UNAUTHENTICATED otherwise."""

    def ListModels(self, request, context):
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        return pb.ListModelsResponse(models=[pb.ModelInfo(name="secured", version=1)])


class TlsTokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = os.environ["TEST_TMPDIR"]
        _make_certificates(cls.directory)
        read = cls.read
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        pb_grpc.add_GenerativeServiceServicer_to_server(_TokenCheckingService(), cls.server)
        credentials = grpc.ssl_server_credentials([(read("server.key"), read("server.pem"))],
                                                  root_certificates=read("ca.pem"),
                                                  require_client_auth=True)
        cls.port = cls.server.add_secure_port("127.0.0.1:0", credentials)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(grace=None).wait()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.directory, name)

    @classmethod
    def read(cls, name):
        with open(cls.path(name), "rb") as pem:
            return pem.read()

    def client(self, **options):
        return genailab.Client(f"localhost:{self.port}", timeout=10, **options)

    def test_mutual_tls_with_token_succeeds(self):
        with self.client(root_certificates=self.path("ca.pem"), private_key=self.path("client.key"),
                         certificate_chain=self.path("client.pem"), token=TOKEN) as client:
            self.assertEqual([m.name for m in client.list_models()], ["secured"])

    def test_pem_bytes_work_like_paths(self):
        with self.client(root_certificates=self.read("ca.pem"), private_key=self.read("client.key"),
                         certificate_chain=self.read("client.pem"), token=TOKEN) as client:
            self.assertEqual(len(client.list_models()), 1)

    def test_wrong_token_raises_unauthenticated(self):
        with self.client(root_certificates=self.path("ca.pem"), private_key=self.path("client.key"),
                         certificate_chain=self.path("client.pem"), token="wrong") as client:
            with self.assertRaises(genailab.Unauthenticated) as raised:
                client.list_models()
            self.assertIn("bearer token", raised.exception.details)

    def test_without_client_certificate_the_handshake_fails_as_unavailable(self):
        with self.client(root_certificates=self.path("ca.pem"), token=TOKEN) as client:
            with self.assertRaises(genailab.Unavailable):
                client.list_models()

    def test_plaintext_client_cannot_talk_to_a_tls_server(self):
        with self.client(token=TOKEN) as client:
            with self.assertRaises(genailab.Unavailable):
                client.list_models()

    def test_key_without_certificate_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "private_key and certificate_chain must be given together"):
            self.client(private_key=self.path("client.key"))

    def test_unreadable_certificate_file_names_the_option(self):
        with self.assertRaisesRegex(ValueError, "root_certificates: cannot read '/no/such.pem'"):
            self.client(root_certificates="/no/such.pem")


class SecuredGenailabServerTest(unittest.TestCase):
    """The real server with mutual TLS and a token file: the client options fit its flags."""

    @classmethod
    def setUpClass(cls):
        cls.directory = os.path.join(os.environ["TEST_TMPDIR"], "secured")
        os.makedirs(cls.directory, exist_ok=True)
        _make_certificates(cls.directory)
        with open(cls.path("tokens"), "w", encoding="utf-8") as tokens:
            tokens.write(TOKEN + "\n")
        cls.server = server_fixture.TinyModelServer(
            cls.directory, epochs=2,
            extra_server_flags=[f"--tls_cert={cls.path('server.pem')}", f"--tls_key={cls.path('server.key')}",
                                f"--tls_client_ca={cls.path('ca.pem')}", f"--token_file={cls.path('tokens')}"])
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.directory, name)

    def client(self, token):
        return genailab.Client(f"localhost:{self.server.grpc_port}", root_certificates=self.path("ca.pem"),
                               private_key=self.path("client.key"), certificate_chain=self.path("client.pem"),
                               token=token, timeout=10)

    def test_token_and_client_certificate_are_accepted(self):
        with self.client(TOKEN) as client:
            self.assertEqual([m.name for m in client.list_models()], [server_fixture.MODEL])

    def test_wrong_token_is_unauthenticated(self):
        with self.client("wrong") as client:
            with self.assertRaises(genailab.Unauthenticated):
                client.list_models()

    def test_health_needs_no_token(self):
        with self.client(None) as client:
            self.assertEqual(client.health(), "SERVING")

    def test_health_command_takes_the_cli_security_flags(self):
        command = [sys.executable, "-m", "genailab", "health", f"--target=localhost:{self.server.grpc_port}",
                   "--timeout=10", f"--tls_ca={self.path('ca.pem')}"]
        with_certificate = subprocess.run(
            command + [f"--tls_cert={self.path('client.pem')}", f"--tls_key={self.path('client.key')}"],
            capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual((with_certificate.returncode, with_certificate.stdout.strip()), (0, "SERVING"),
                         with_certificate.stderr)
        without_certificate = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(without_certificate.returncode, 1)
        self.assertIn("UNAVAILABLE", without_certificate.stderr)


if __name__ == "__main__":
    unittest.main()
