"""A real genailab-server on loopback, serving a tiny model trained for the test, and helpers to start and
stop the project's daemons (test helpers).

    with server_fixture.TinyModelServer(tmp_dir) as server:
        client = genailab.Client(server.grpc_target)

Runs this workspace's genailab-synth, genailab-train and genailab-server from the test's runfiles (Bazel
data dependencies of //client/python:server_fixture). The server binds 127.0.0.1 port 0 and reports its
ports through --port_file; leaving the `with` block stops it with SIGTERM (SIGKILL if it does not drain).
"""
import json
import os
import signal
import subprocess
import time

MODEL = "tiny"
COVARIATE_KEYS = ("cell_type", "condition")
CONDITION_KEY = "condition"
N_GENES = 50
N_CELL_TYPES = 3
CELLS_PER_GROUP = 40


def runfile(workspace_relative):
    return os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "genailab"),
                        workspace_relative)


def _run(argv, log_path):
    with open(log_path, "wb") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=300, check=False).returncode
    if code != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            raise RuntimeError(f"{os.path.basename(argv[0])} exited {code}:\n{log.read()}")


class TinyModelServer:
    """Trains MODEL on synthetic data under `directory` and serves it. Not thread-safe."""

    def __init__(self, directory, epochs=20, extra_server_flags=(), flow_model=None):
        """flow_model: if set, also trains a small flow-matching model of that name (an iterative model)."""
        self.directory = directory
        self.data_path = os.path.join(directory, "synthetic.h5ad")
        self.repository = os.path.join(directory, "repository")
        self.train_log = os.path.join(directory, "train.log")
        self.server_log = os.path.join(directory, "server.log")
        self._epochs = epochs
        self._extra_server_flags = list(extra_server_flags)
        self._flow_model = flow_model
        self._process = None
        self.exit_code = None
        self.grpc_port = 0
        self.metrics_port = 0

    @property
    def grpc_target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def __enter__(self):
        _run([runfile("data/genailab-synth"), f"--out={self.data_path}", f"--genes={N_GENES}",
              f"--cell_types={N_CELL_TYPES}", "--batches=1", f"--cells_per_group={CELLS_PER_GROUP}", "--seed=5"],
             os.path.join(self.directory, "synth.log"))
        _run([runfile("trainer/genailab-train"), f"--data={self.data_path}", f"--model={MODEL}",
              f"--repository={self.repository}", "--model_type=cvae",
              f"--covariate_keys={','.join(COVARIATE_KEYS)}", f"--condition_key={CONDITION_KEY}",
              f"--epochs={self._epochs}", "--latent_dim=4", "--hidden_dims=32", "--seed=1",
              "--kl_warmup_epochs=2"],
             self.train_log)
        if self._flow_model:
            _run([runfile("trainer/genailab-train"), f"--data={self.data_path}", f"--model={self._flow_model}",
                  f"--repository={self.repository}", "--model_type=flow_matching",
                  f"--covariate_keys={','.join(COVARIATE_KEYS)}", f"--condition_key={CONDITION_KEY}",
                  "--epochs=3", "--pca_components=4", "--hidden_dims=32,32", "--seed=1", "--sampling_steps=4"],
                 os.path.join(self.directory, "train_flow.log"))
        self._process, ports = start_daemon(
            [runfile("server/genailab-server"), f"--repository={self.repository}",
             "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0", "--device=cpu", "--drain_seconds=5"]
            + self._extra_server_flags,
            os.path.join(self.directory, "ports.json"), self.server_log)
        self.grpc_port = ports["grpc_port"]
        self.metrics_port = ports["metrics_port"]
        return self

    def __exit__(self, *unused):
        """Stops the server (SIGTERM, then SIGKILL after 30 s); its exit code is left in exit_code."""
        if self._process is not None:
            self.exit_code = stop_daemon(self._process)
            self._process = None


def start_daemon(argv, port_file, log_path, timeout=60):
    """Starts a genailab daemon that reports {"grpc_port": N, "metrics_port": M} in --port_file=`port_file`
    (appended to argv); returns (process, ports). Raises RuntimeError with the log if it does not come up."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv + [f"--port_file={port_file}"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(port_file, encoding="utf-8") as ports:
                return process, json.load(ports)
        except (OSError, ValueError):  # not written yet
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_daemon(process)
            with open(log_path, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(f"{os.path.basename(argv[0])} did not start:\n{log.read()}")
        time.sleep(0.05)


def stop_daemon(process):
    """SIGTERM, then SIGKILL after 30 s; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
