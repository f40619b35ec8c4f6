"""genailab.Client against a real genailab-server serving a tiny conditional VAE trained for the test."""
import os
import unittest

import anndata
import numpy as np

import genailab
import server_fixture


class ClientServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Streams in messages of 4 cells unless a request says otherwise, so that generate() above
        # stream_above_cells concatenates several messages.
        cls.server = server_fixture.TinyModelServer(os.environ["TEST_TMPDIR"],
                                                    extra_server_flags=["--default_chunk_cells=4"]).__enter__()
        cls.client = genailab.Client(cls.server.grpc_target, timeout=30)
        cls.data = anndata.read_h5ad(cls.server.data_path)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.__exit__()

    def control_cells(self, cell_type):
        mask = (self.data.obs["cell_type"] == cell_type) & (self.data.obs["condition"] == "control")
        return self.data[mask.to_numpy()].copy()

    def test_list_and_get_model_describe_the_trained_model(self):
        self.assertEqual([m.name for m in self.client.list_models()], [server_fixture.MODEL])
        info = self.client.get_model(server_fixture.MODEL)
        self.assertEqual(info.version, 1)
        self.assertEqual(info.model_type, "cvae")
        self.assertEqual(list(info.gene_names), list(self.data.var_names))
        self.assertEqual([c.name for c in info.covariates], list(server_fixture.COVARIATE_KEYS))
        self.assertIn("stimulated", info.conditions)

    def test_unknown_model_raises_not_found(self):
        with self.assertRaises(genailab.NotFound) as raised:
            self.client.get_model("no_such_model")
        self.assertIn("no_such_model", raised.exception.details)

    def test_encode_returns_numpy_latents(self):
        cells = self.control_cells("type_0")
        result = self.client.encode(cells, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL)
        self.assertEqual(result.mean.shape, (cells.n_obs, 4))
        self.assertEqual(result.mean.dtype, np.float32)
        self.assertTrue(np.all(result.variance > 0))
        self.assertTrue(np.all(np.isfinite(result.mean)))

    def test_encode_without_covariates_raises_invalid_argument_naming_the_covariate(self):
        with self.assertRaises(genailab.InvalidArgument) as raised:
            self.client.encode(self.control_cells("type_0"), model=server_fixture.MODEL)
        self.assertIn("cell_type", raised.exception.details)

    def test_encode_with_renamed_genes_raises_invalid_argument(self):
        cells = self.control_cells("type_0")
        cells.var_names = [f"unknown_{g}" for g in cells.var_names]
        with self.assertRaises(genailab.InvalidArgument) as raised:
            self.client.encode(cells, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL)
        self.assertIn("unknown_gene_0000", raised.exception.details)

    def test_sparse_and_dense_input_encode_alike(self):
        import scipy.sparse
        cells = self.control_cells("type_1")
        dense = self.client.encode(cells, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL).mean
        cells.X = scipy.sparse.csr_matrix(np.asarray(cells.X))
        sparse = self.client.encode(cells, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL).mean
        np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)

    def test_decode_returns_anndata_with_gene_names(self):
        latent = np.zeros((3, 4), dtype=np.float32)
        decoded = self.client.decode(latent, {"cell_type": ["type_0"] * 3, "condition": ["control"] * 3},
                                     model=server_fixture.MODEL)
        self.assertEqual(decoded.shape, (3, server_fixture.N_GENES))
        self.assertEqual(list(decoded.var_names), list(self.data.var_names))
        self.assertEqual(list(decoded.obs["cell_type"]), ["type_0"] * 3)

    def test_generate_returns_groups_in_order_with_covariates(self):
        generated = self.client.generate(
            [({"cell_type": "type_1", "condition": "control"}, 7),
             ({"cell_type": "type_2", "condition": "stimulated"}, 5)],
            model=server_fixture.MODEL, seed=3)
        self.assertEqual(generated.shape, (12, server_fixture.N_GENES))
        self.assertEqual(list(generated.obs["cell_type"]), ["type_1"] * 7 + ["type_2"] * 5)
        self.assertEqual(list(generated.obs["condition"]), ["control"] * 7 + ["stimulated"] * 5)
        again = self.client.generate(
            [({"cell_type": "type_1", "condition": "control"}, 7),
             ({"cell_type": "type_2", "condition": "stimulated"}, 5)],
            model=server_fixture.MODEL, seed=3)
        np.testing.assert_array_equal(again.X, generated.X)

    def test_responses_come_without_gene_names_which_the_client_fetches_once_per_version(self):
        with genailab.Client(self.server.grpc_target, timeout=30) as client:
            sent, get_model_calls = [], []
            for rpc in ("Encode", "Decode", "Generate", "PredictPerturbation", "GetModel"):
                def recording(request, _stub_method=getattr(client._stub, rpc), _rpc=rpc, **kwargs):
                    (get_model_calls if _rpc == "GetModel" else sent).append(request)
                    return _stub_method(request, **kwargs)
                setattr(client._stub, rpc, recording)
            cells = self.control_cells("type_0")
            client.encode(cells, server_fixture.COVARIATE_KEYS, model=server_fixture.MODEL)
            groups = [({"cell_type": "type_1", "condition": "control"}, 3)]
            first = client.generate(groups, model=server_fixture.MODEL, seed=5)
            second = client.generate(groups, model=server_fixture.MODEL, seed=6)
            decoded = client.decode(np.zeros((2, 4), dtype=np.float32),
                                    {"cell_type": ["type_0"] * 2, "condition": ["control"] * 2},
                                    model=server_fixture.MODEL)
            predicted = client.predict_perturbation(cells, "control", "stimulated", ["cell_type"],
                                                    model=server_fixture.MODEL)
        self.assertEqual(len(sent), 5)
        self.assertTrue(all(request.omit_column_names for request in sent))
        # The server honoured it, and the client named the genes from a single GetModel.
        self.assertEqual(len(get_model_calls), 1)
        for result in (first, second, decoded, predicted):
            self.assertEqual(list(result.var_names), list(self.data.var_names))

    def test_a_version_gone_before_its_genes_were_fetched_is_asked_again_with_names(self):
        with genailab.Client(self.server.grpc_target, timeout=30) as client:
            def version_gone(*args, **kwargs):
                raise genailab.NotFound("version retired")
            client.get_model = version_gone
            generated = client.generate([({"cell_type": "type_1", "condition": "control"}, 2)],
                                        model=server_fixture.MODEL, seed=5)
        self.assertEqual(list(generated.var_names), list(self.data.var_names))

    def test_generate_unknown_covariate_value_raises_invalid_argument(self):
        with self.assertRaises(genailab.InvalidArgument) as raised:
            self.client.generate([({"cell_type": "type_99", "condition": "control"}, 2)],
                                 model=server_fixture.MODEL)
        self.assertIn("type_99", raised.exception.details)

    def test_predict_perturbation_keeps_cells_and_sets_the_condition(self):
        cells = self.control_cells("type_2")
        predicted = self.client.predict_perturbation(cells, "control", "stimulated", ["cell_type"],
                                                     model=server_fixture.MODEL)
        self.assertEqual(predicted.shape, cells.shape)
        self.assertEqual(list(predicted.obs_names), list(cells.obs_names))
        self.assertEqual(set(predicted.obs["condition"]), {"stimulated"})
        self.assertEqual(list(predicted.obs["cell_type"]), list(cells.obs["cell_type"]))

    def test_predict_perturbation_unknown_target_raises_invalid_argument(self):
        with self.assertRaises(genailab.InvalidArgument) as raised:
            self.client.predict_perturbation(self.control_cells("type_0"), "control", "heat_shock",
                                             ["cell_type"], model=server_fixture.MODEL)
        self.assertIn("heat_shock", raised.exception.details)

    def test_generate_stream_chunks_concatenate_to_generate(self):
        groups = [({"cell_type": "type_0", "condition": "control"}, 9),
                  ({"cell_type": "type_1", "condition": "stimulated"}, 4)]
        chunks = list(self.client.generate_stream(groups, model=server_fixture.MODEL, seed=8, chunk_cells=5))
        self.assertEqual([chunk.n_obs for chunk in chunks], [5, 5, 3])
        whole = self.client.generate(groups, model=server_fixture.MODEL, seed=8)
        np.testing.assert_array_equal(np.concatenate([chunk.X for chunk in chunks]), whole.X)
        self.assertEqual([c for chunk in chunks for c in chunk.obs["cell_type"]], list(whole.obs["cell_type"]))
        self.assertEqual([name for chunk in chunks for name in chunk.obs_names], [str(i) for i in range(13)])

    def test_generate_above_stream_above_cells_streams_the_same_anndata(self):
        groups = [({"cell_type": "type_0", "condition": "control"}, 6),
                  ({"cell_type": "type_1", "condition": "stimulated"}, 3)]
        whole = self.client.generate(groups, model=server_fixture.MODEL, seed=4)
        with genailab.Client(self.server.grpc_target, timeout=30, stream_above_cells=2) as streaming:
            streamed = streaming.generate(groups, model=server_fixture.MODEL, seed=4)
            chunks = list(streaming.generate_stream(groups, model=server_fixture.MODEL, seed=4))
        self.assertEqual([chunk.n_obs for chunk in chunks], [4, 4, 1])
        np.testing.assert_array_equal(streamed.X, whole.X)
        self.assertEqual(list(streamed.obs_names), list(whole.obs_names))
        self.assertEqual(list(streamed.var_names), list(whole.var_names))
        self.assertEqual(list(streamed.obs["cell_type"]), list(whole.obs["cell_type"]))
        self.assertEqual(list(streamed.obs["condition"]), list(whole.obs["condition"]))
        with self.assertRaises(ValueError):
            genailab.Client(self.server.grpc_target, stream_above_cells=-1)

    def test_generate_stream_of_an_unknown_model_raises_not_found(self):
        with self.assertRaises(genailab.NotFound):
            list(self.client.generate_stream([({"cell_type": "type_0", "condition": "control"}, 2)],
                                             model="no_such_model"))

    def test_unload_and_load_model(self):
        self.client.unload_model(server_fixture.MODEL)
        try:
            with self.assertRaises(genailab.NotFound):
                self.client.get_model(server_fixture.MODEL)
        finally:
            info = self.client.load_model(server_fixture.MODEL)
        self.assertEqual((info.name, info.version), (server_fixture.MODEL, 1))
        self.assertEqual(self.client.get_model(server_fixture.MODEL).version, 1)
        with self.assertRaises(genailab.NotFound):
            self.client.load_model(server_fixture.MODEL, version=7)

    def test_health_reports_serving(self):
        self.assertEqual(self.client.health(), "SERVING")

    def test_round_robin_over_resolved_addresses(self):
        target = f"ipv4:127.0.0.1:{self.server.grpc_port},127.0.0.1:{self.server.grpc_port}"
        with genailab.Client(target, load_balancing="round_robin", timeout=10) as client:
            for _ in range(3):
                self.assertEqual(client.get_model(server_fixture.MODEL).name, server_fixture.MODEL)
        with self.assertRaisesRegex(ValueError, "load_balancing must be 'pick_first' or 'round_robin'"):
            genailab.Client(target, load_balancing="random")

    def test_unreachable_server_raises_unavailable(self):
        with genailab.Client("127.0.0.1:1", timeout=5) as unreachable:
            with self.assertRaises(genailab.Unavailable):
                unreachable.list_models()


if __name__ == "__main__":
    unittest.main()
