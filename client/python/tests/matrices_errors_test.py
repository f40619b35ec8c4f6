"""genailab.matrices round trips and genailab.errors' mapping of status codes to exception classes."""
import unittest

import grpc
import numpy as np
import scipy.sparse

import genailab
from genailab import errors
from genailab import matrices


class MatricesTest(unittest.TestCase):
    def test_dense_round_trip_keeps_values_shape_and_names(self):
        values = np.arange(6, dtype=np.float32).reshape(2, 3)
        matrix = matrices.to_matrix(values, ["a", "b", "c"])
        self.assertEqual(matrix.WhichOneof("storage"), "dense")
        back, names = matrices.from_matrix(matrix)
        np.testing.assert_array_equal(back, values)
        self.assertEqual(names, ["a", "b", "c"])

    def test_sparse_travels_as_csr_and_reads_back_dense(self):
        values = np.array([[0, 2, 0], [1, 0, 3]], dtype=np.float32)
        matrix = matrices.to_matrix(scipy.sparse.csc_matrix(values), ["a", "b", "c"])
        self.assertEqual(matrix.WhichOneof("storage"), "csr")
        self.assertEqual(list(matrix.csr.indptr), [0, 1, 3])
        self.assertEqual(list(matrix.csr.indices), [1, 0, 2])
        np.testing.assert_array_equal(matrices.from_matrix(matrix)[0], values)

    def test_wrong_number_of_names_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "column_names has 2 names for 3 columns"):
            matrices.to_matrix(np.zeros((1, 3)), ["a", "b"])

    def test_one_dimensional_input_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "must be 2-D"):
            matrices.to_matrix(np.zeros(3))


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        super().__init__()
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class ErrorsTest(unittest.TestCase):
    def test_every_status_code_but_ok_has_its_own_class(self):
        for code in grpc.StatusCode:
            if code == grpc.StatusCode.OK:
                continue
            error = errors.from_rpc_error(_FakeRpcError(code, "field 'x' is bad"))
            self.assertIsInstance(error, genailab.GenailabError)
            self.assertIs(type(error).code, code, code)
            self.assertEqual(error.details, "field 'x' is bad")
            self.assertEqual(str(error), f"{code.name}: field 'x' is bad")

    def test_specific_classes(self):
        self.assertIsInstance(errors.from_rpc_error(_FakeRpcError(grpc.StatusCode.NOT_FOUND, "")),
                              genailab.NotFound)
        self.assertIsInstance(errors.from_rpc_error(_FakeRpcError(grpc.StatusCode.UNAVAILABLE, "")),
                              genailab.Unavailable)
        self.assertIsInstance(errors.from_rpc_error(_FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "")),
                              genailab.InvalidArgument)


if __name__ == "__main__":
    unittest.main()
