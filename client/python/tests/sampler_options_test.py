"""Sampler options (sampler, steps, eta, guidance scale, seed) from the Python client to a real
genailab-server serving a tiny flow-matching model: the same seed and options give the same cells, other
options give other cells, and bad options are refused."""
import os
import unittest

import anndata
import numpy as np

import genailab
import server_fixture

FLOW_MODEL = "tiny_flow"


class SamplerOptionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = server_fixture.TinyModelServer(os.environ["TEST_TMPDIR"], epochs=3,
                                                    flow_model=FLOW_MODEL).__enter__()
        cls.client = genailab.Client(cls.server.grpc_target, timeout=30)
        cls.data = anndata.read_h5ad(cls.server.data_path)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.__exit__()

    GROUPS = [({"cell_type": "type_1", "condition": "stimulated"}, 6)]

    def generate(self, **options):
        return self.client.generate(self.GROUPS, model=FLOW_MODEL, **options).X

    def test_the_model_lists_its_samplers(self):
        self.assertEqual(set(self.client.get_model(FLOW_MODEL).samplers), {"euler", "heun"})

    def test_same_seed_and_options_give_the_same_cells(self):
        first = self.generate(seed=4, sampler="heun", steps=3)
        np.testing.assert_array_equal(first, self.generate(seed=4, sampler="heun", steps=3))
        self.assertFalse(np.array_equal(first, self.generate(seed=5, sampler="heun", steps=3)))
        self.assertFalse(np.array_equal(first, self.generate(seed=4, sampler="euler", steps=3)))
        self.assertFalse(np.array_equal(first, self.generate(seed=4, sampler="heun", steps=6)))

    def test_generate_stream_takes_the_same_options(self):
        streamed = np.concatenate([chunk.X for chunk in self.client.generate_stream(
            self.GROUPS, model=FLOW_MODEL, seed=4, sampler="euler", steps=2, chunk_cells=4)])
        np.testing.assert_array_equal(streamed, self.generate(seed=4, sampler="euler", steps=2))

    def test_predict_perturbation_takes_sampler_options(self):
        mask = ((self.data.obs["cell_type"] == "type_0") & (self.data.obs["condition"] == "control")).to_numpy()
        cells = self.data[mask].copy()
        first = self.client.predict_perturbation(cells, "control", "stimulated", ["cell_type"], model=FLOW_MODEL,
                                                 seed=2, sampler="euler", steps=3)
        self.assertEqual(first.shape, cells.shape)
        self.assertEqual(set(first.obs["condition"]), {"stimulated"})
        again = self.client.predict_perturbation(cells, "control", "stimulated", ["cell_type"], model=FLOW_MODEL,
                                                 seed=2, sampler="euler", steps=3)
        np.testing.assert_array_equal(first.X, again.X)
        heun = self.client.predict_perturbation(cells, "control", "stimulated", ["cell_type"], model=FLOW_MODEL,
                                                seed=2, sampler="heun", steps=3)
        self.assertFalse(np.array_equal(first.X, heun.X))

    def test_unknown_sampler_raises_invalid_argument_naming_it(self):
        with self.assertRaises(genailab.InvalidArgument) as raised:
            self.generate(sampler="ddpm")
        self.assertIn("ddpm", raised.exception.details)

    def test_out_of_range_options_are_refused_before_any_rpc(self):
        for options in ({"steps": -1}, {"eta": 1.5}, {"guidance_scale": -2.0}):
            with self.subTest(options=options):
                with self.assertRaises(ValueError):
                    self.generate(**options)


if __name__ == "__main__":
    unittest.main()
