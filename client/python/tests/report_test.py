"""`python3 -m genailab report` and `python3 -m genailab health` against a real genailab-server; the report's
PNG files are checked by their magic bytes and by reading them back with matplotlib."""
import json
import os
import subprocess
import sys
import unittest

import matplotlib.image
import numpy as np

import server_fixture
from genailab import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "genailab", *args], capture_output=True, text=True,
                          timeout=120, check=False)


class ReportCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = os.environ["TEST_TMPDIR"]
        cls.server = server_fixture.TinyModelServer(cls.tmp).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__()

    def assert_png(self, path):
        with open(path, "rb") as png:
            self.assertEqual(png.read(8), PNG_MAGIC, path)
        image = matplotlib.image.imread(path)
        self.assertEqual(image.ndim, 3, path)
        self.assertGreater(image.shape[0], 100, path)
        self.assertGreater(image.shape[1], 100, path)
        self.assertGreater(float(np.std(image)), 0.0, f"{path} is blank")

    def test_report_writes_every_figure(self):
        eval_json = os.path.join(self.tmp, "eval.json")
        with open(eval_json, "w", encoding="utf-8") as out:
            json.dump({"knn_accuracy": {"cvae": 0.91, "pca": 0.85}, "mmd_squared": 0.012}, out)
        out_dir = os.path.join(self.tmp, "figures")
        result = run_cli("report", f"--target={self.server.grpc_target}", f"--model={server_fixture.MODEL}",
                         f"--data={self.server.data_path}", "--covariate_keys=cell_type,condition",
                         "--color=cell_type", "--perturb=cell_type=type_1", "--source=control",
                         "--target_condition=stimulated", "--top_genes=5", f"--train_log={self.server.train_log}",
                         f"--eval_json={eval_json}", f"--out_dir={out_dir}")
        self.assertEqual(result.returncode, 0, result.stderr)
        names = ["latent_pca.png", "training_curves.png", "perturbation_means.png", "evaluation.png"]
        self.assertEqual(result.stdout.split(), [os.path.join(out_dir, name) for name in names])
        for name in names:
            self.assert_png(os.path.join(out_dir, name))

    def test_report_for_an_unknown_model_fails_with_not_found(self):
        result = run_cli("report", f"--target={self.server.grpc_target}", "--model=nope",
                         f"--data={self.server.data_path}", f"--out_dir={self.tmp}/unused")
        self.assertEqual(result.returncode, 1)
        self.assertIn("NOT_FOUND", result.stderr)
        self.assertIn("nope", result.stderr)

    def test_report_with_a_selection_matching_no_cells_fails_naming_it(self):
        result = run_cli("report", f"--target={self.server.grpc_target}", f"--model={server_fixture.MODEL}",
                         f"--data={self.server.data_path}", "--covariate_keys=cell_type,condition",
                         "--perturb=cell_type=type_77", f"--out_dir={self.tmp}/unused")
        self.assertEqual(result.returncode, 2)
        self.assertIn("no cells with", result.stderr)
        self.assertIn("type_77", result.stderr)

    def test_health_command_reports_serving(self):
        result = run_cli("health", f"--target={self.server.grpc_target}", "--timeout=10")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "SERVING")

    def test_health_command_of_an_unknown_service_fails(self):
        result = run_cli("health", f"--target={self.server.grpc_target}", "--service=no.Such", "--timeout=10")
        self.assertEqual(result.returncode, 1)
        self.assertIn("NOT_FOUND", result.stderr)


class ReportHelpersTest(unittest.TestCase):
    def test_parse_training_log_reads_every_epoch_quantity(self):
        history = report.parse_training_log([
            "loading data",
            "epoch 1/2 loss=3.5 reconstruction=3.0 kl=0.5 validation_loss=3.75 cells_per_s=100",
            "epoch 2/2 loss=2.5 reconstruction=2.25 kl=0.25 validation_loss=nan cells_per_s=120",
            "published model version 1"])
        self.assertEqual(history["loss"], [(1, 3.5), (2, 2.5)])
        self.assertEqual(history["cells_per_s"], [(1, 100.0), (2, 120.0)])
        self.assertTrue(np.isnan(history["validation_loss"][1][1]))
        self.assertEqual(set(history), {"loss", "reconstruction", "kl", "validation_loss", "cells_per_s"})

    def test_pca_finds_the_direction_of_largest_variance(self):
        rng = np.random.default_rng(0)
        x = np.zeros((200, 3))
        x[:, 2] = rng.normal(scale=10.0, size=200)
        x[:, 0] = rng.normal(scale=1.0, size=200)
        coordinates, explained = report.pca_2d(x)
        self.assertGreater(abs(np.corrcoef(coordinates[:, 0], x[:, 2])[0, 1]), 0.999)
        self.assertEqual(coordinates.shape, (200, 2))
        self.assertGreater(explained[0], 0.95)

    def test_flatten_numbers_names_nested_leaves_and_skips_booleans(self):
        self.assertEqual(report.flatten_numbers({"a": {"b": 1, "c": [2.5, True]}, "d": "x"}),
                         {"a.b": 1.0, "a.c.0": 2.5})


if __name__ == "__main__":
    unittest.main()
