"""genailab.v1's Python modules for the benchmark scripts, compiled from proto/ at run time with Debian's
grpc_tools.protoc (they are never committed)."""
import subprocess
import sys
import tempfile


def compile_proto(repo_root, prefix="genailab_bench_"):
    """Compiles genailab/v1/generative_service.proto under `repo_root`/proto into a temporary folder put
    on sys.path; returns (generative_service_pb2, generative_service_pb2_grpc)."""
    out = tempfile.mkdtemp(prefix=prefix)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{repo_root}/proto", f"--python_out={out}",
                    f"--grpc_python_out={out}", "genailab/v1/generative_service.proto"], check=True)
    sys.path.insert(0, out)
    from genailab.v1 import generative_service_pb2, generative_service_pb2_grpc  # noqa: E402
    return generative_service_pb2, generative_service_pb2_grpc
