#!/usr/bin/python3
"""End to end with a real Prometheus: Debian's prometheus server on loopback scrapes a real genailab-server
(a tiny model trained for the test) and a real genailab-trainer every second, while the Python client sends
a known number of requests and the trainer trains version 2 of the model from a spool job file. Prometheus's
HTTP API must then report exactly that many requests (by status code), a latency quantile from the
request-duration histogram, the trainer's finished job and epochs, and the server serving version 2.
Everything started here is stopped here.
"""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

_PYTHON_DIR = os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "genailab"), "client",
                           "python")
sys.path[:0] = [_PYTHON_DIR, os.path.join(_PYTHON_DIR, "tests")]

import anndata  # noqa: E402

import genailab  # noqa: E402
import server_fixture  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
ENCODES = 12
GENERATES = 6
NOT_FOUND = 4
TRAINING_EPOCHS = 3


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Prometheus:
    """A prometheus server scraping some metrics ports every second, with its data in `directory`."""

    def __init__(self, directory, metrics_ports):
        """metrics_ports: {scrape job name: port on 127.0.0.1}."""
        self.directory = directory
        self.config = os.path.join(directory, "prometheus.yml")
        with open(self.config, "w", encoding="utf-8") as config:
            config.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
            for job, port in metrics_ports.items():
                config.write(f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        self.port = 0
        self._process = None

    def __enter__(self):
        # The port is chosen before Prometheus binds it; retry if another process took it meanwhile.
        for _ in range(3):
            self.port = free_port()
            log = open(os.path.join(self.directory, "prometheus.log"), "wb")
            self._process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config}", f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--storage.tsdb.path={os.path.join(self.directory, 'tsdb')}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as ready:
                        if ready.status == 200:
                            return self
                except OSError:
                    time.sleep(0.2)
            self.__exit__()
        raise RuntimeError(f"prometheus did not start:\n{self.log()}")

    def __exit__(self, *unused):
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def log(self):
        with open(os.path.join(self.directory, "prometheus.log"), encoding="utf-8", errors="replace") as log:
            return log.read()

    def query(self, promql):
        """The instant vector of `promql` as [(labels, float value)]."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        if body["status"] != "success":
            raise RuntimeError(f"query {promql} failed: {body}")
        return [(sample["metric"], float(sample["value"][1])) for sample in body["data"]["result"]]

    def wait_for(self, promql, predicate, timeout=30):
        """Polls `promql` until predicate(result) holds; returns the last result."""
        deadline = time.monotonic() + timeout
        result = self.query(promql)
        while not predicate(result) and time.monotonic() < deadline:
            time.sleep(0.5)
            result = self.query(promql)
        return result


class PrometheusScrapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = os.environ["TEST_TMPDIR"]
        cls.server = server_fixture.TinyModelServer(os.path.join(tmp, "server_run"), epochs=5,
                                                    extra_server_flags=["--poll_interval_seconds=1"])
        os.makedirs(cls.server.directory, exist_ok=True)
        cls.trainer = None
        cls.prometheus = None
        cls.server.__enter__()
        try:
            cls.start_trainer(os.path.join(tmp, "trainer"))
            prometheus_dir = os.path.join(tmp, "prometheus")
            os.makedirs(prometheus_dir, exist_ok=True)
            cls.prometheus = Prometheus(prometheus_dir, {"genailab-server": cls.server.metrics_port,
                                                         "genailab-trainer": cls.trainer_metrics_port}).__enter__()
            # Prometheus starts scraping a few seconds after it is ready (target discovery is batched): load
            # the server only once both targets have been scraped, so that the load spans several scrapes.
            up = cls.prometheus.wait_for("sum(up)", lambda r: r and r[0][1] == 2.0, timeout=60)
            if not up or up[0][1] != 2.0:
                raise RuntimeError(f"prometheus did not scrape both targets: {up}\n{cls.prometheus.log()}")
            cls.submit_training_job()
            cls.send_load()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus is not None:
            cls.prometheus.__exit__()
        if cls.trainer is not None:
            server_fixture.stop_daemon(cls.trainer)
        cls.server.__exit__()

    @classmethod
    def start_trainer(cls, directory):
        """genailab-trainer publishing into the server's repository, taking jobs from a spool folder."""
        cls.spool = os.path.join(directory, "spool")
        os.makedirs(cls.spool)
        cls.trainer, ports = server_fixture.start_daemon(
            [server_fixture.runfile("trainer/genailab-trainer"), f"--state_dir={directory}/state",
             f"--repository={cls.server.repository}", f"--spool_dir={cls.spool}", "--spool_poll_seconds=0.5",
             "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0"],
            os.path.join(directory, "ports.json"), os.path.join(directory, "trainer.log"))
        cls.trainer_metrics_port = ports["metrics_port"]

    @classmethod
    def submit_training_job(cls):
        """Version 2 of the served model, written as ".job.json" and renamed so the spool never reads half."""
        spec = {"data_path": cls.server.data_path, "model_name": server_fixture.MODEL, "model_type": "cvae",
                "covariate_keys": list(server_fixture.COVARIATE_KEYS),
                "condition_key": server_fixture.CONDITION_KEY, "latent_dim": 4, "hidden_dims": [32],
                "training": {"epochs": TRAINING_EPOCHS, "seed": 2}}
        with open(os.path.join(cls.spool, ".job.json"), "w", encoding="utf-8") as job:
            json.dump(spec, job)
        os.rename(os.path.join(cls.spool, ".job.json"), os.path.join(cls.spool, "job.json"))

    @classmethod
    def send_load(cls):
        """Requests spread over a few seconds, so that several scrapes see the counters grow."""
        data = anndata.read_h5ad(cls.server.data_path)[:64]
        with genailab.Client(cls.server.grpc_target, timeout=30) as client:
            # The client fetches a version's gene names with GetModel, once per version it is answered by;
            # those calls are counted too.
            cls.get_models = 0
            get_model = client.get_model

            def counting_get_model(*args, **kwargs):
                cls.get_models += 1
                return get_model(*args, **kwargs)
            client.get_model = counting_get_model
            for i in range(ENCODES):
                client.encode(data, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL)
                if i < GENERATES:
                    client.generate([({"cell_type": "type_0", "condition": "control"}, 50)],
                                    model=server_fixture.MODEL, seed=i)
                if i < NOT_FOUND:
                    try:
                        client.encode(data, model="no_such_model")
                        raise AssertionError("an Encode of an unknown model succeeded")
                    except genailab.NotFound:
                        pass
                time.sleep(0.25)

    def test_the_targets_stay_up_under_load(self):
        result = self.prometheus.query("min by (job) (min_over_time(up[5m]))")
        self.assertEqual({labels["job"]: value for labels, value in result},
                         {"genailab-server": 1.0, "genailab-trainer": 1.0}, self.prometheus.log())

    def test_trainer_job_progress_reaches_prometheus(self):
        succeeded = self.prometheus.wait_for('genailab_trainer_jobs{job="genailab-trainer", state="succeeded"}',
                                             lambda r: r and r[0][1] == 1.0)
        self.assertEqual([value for _, value in succeeded], [1.0])
        # The per-job label is job_id (the dashboard groups by it); nothing clashes with the scrape label job.
        epochs = self.prometheus.query('genailab_trainer_epoch{job="genailab-trainer"}')
        self.assertEqual(len(epochs), 1)
        self.assertEqual(epochs[0][0].get("job_id"), "job-000001", epochs)
        self.assertNotIn("exported_job", epochs[0][0], epochs)
        self.assertEqual(epochs[0][1], TRAINING_EPOCHS)
        failures = self.prometheus.query('genailab_trainer_publish_failures_total{job="genailab-trainer"}')
        self.assertEqual([value for _, value in failures], [0.0])

    def test_server_serves_the_version_the_trainer_published(self):
        served = self.prometheus.wait_for(
            f'genailab_model_served_version{{job="genailab-server", model="{server_fixture.MODEL}"}}',
            lambda r: r and r[0][1] == 2.0)
        self.assertEqual([value for _, value in served], [2.0])

    def test_request_counter_counts_every_request_by_rpc_and_code(self):
        total = ENCODES + GENERATES + NOT_FOUND + self.get_models
        query = 'sum by (rpc, code) (genailab_requests_total{job="genailab-server"})'
        result = self.prometheus.wait_for(query, lambda r: sum(v for _, v in r) == total)
        counts = {(labels["rpc"], labels["code"]): value for labels, value in result}
        expected = {("Encode", "OK"): ENCODES, ("Generate", "OK"): GENERATES, ("Encode", "NOT_FOUND"): NOT_FOUND}
        if self.get_models:
            expected[("GetModel", "OK")] = self.get_models
        self.assertEqual(counts, expected, self.prometheus.log())

    def test_latency_histogram_gives_a_quantile(self):
        total = ENCODES + GENERATES + NOT_FOUND + self.get_models
        count = self.prometheus.wait_for('sum(genailab_request_duration_seconds_count{job="genailab-server"})',
                                         lambda r: r and r[0][1] == total)
        self.assertEqual(count[0][1], total)
        quantile = self.prometheus.wait_for(
            'histogram_quantile(0.99, sum by (le) '
            '(increase(genailab_request_duration_seconds_bucket{job="genailab-server"}[5m])))', bool)
        self.assertEqual(len(quantile), 1)
        p99 = quantile[0][1]
        self.assertTrue(math.isfinite(p99) and 0 < p99 < 30, p99)
        # The per-RPC quantile exists for both RPCs that ran.
        per_rpc = self.prometheus.query(
            'histogram_quantile(0.5, sum by (rpc, le) '
            '(increase(genailab_request_duration_seconds_bucket{job="genailab-server"}[5m])))')
        expected_rpcs = {"Encode", "Generate"} | ({"GetModel"} if self.get_models else set())
        self.assertEqual({labels["rpc"] for labels, _ in per_rpc}, expected_rpcs)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
