"""Conversion between numpy / scipy.sparse matrices and genailab.v1.Matrix.

Matrices are cells x genes (or cells x latent dimensions), float32. Dense arrays travel row-major in
Matrix.dense; scipy CSR/CSC/COO matrices travel as Matrix.csr without densifying.
"""
import numpy as np
import scipy.sparse

from genailab.v1 import generative_service_pb2 as pb


def to_matrix(values, column_names=None):
    """Returns a Matrix for a 2-D array-like or scipy.sparse matrix.

    Raises ValueError if `values` is not 2-D or column_names does not have one name per column.
    """
    names = [] if column_names is None else [str(name) for name in column_names]
    if scipy.sparse.issparse(values):
        csr = scipy.sparse.csr_matrix(values, dtype=np.float32)
        csr.sort_indices()
        rows, cols = csr.shape
        matrix = pb.Matrix(rows=rows, cols=cols, column_names=names)
        matrix.csr.data.extend(csr.data.tolist())
        matrix.csr.indices.extend(csr.indices.astype(np.int64).tolist())
        matrix.csr.indptr.extend(csr.indptr.astype(np.int64).tolist())
    else:
        dense = np.asarray(values, dtype=np.float32)
        if dense.ndim != 2:
            raise ValueError(f"matrix must be 2-D, got shape {dense.shape}")
        rows, cols = dense.shape
        matrix = pb.Matrix(rows=rows, cols=cols, column_names=names)
        matrix.dense.values.extend(dense.ravel(order="C").tolist())
    if names and len(names) != cols:
        raise ValueError(f"column_names has {len(names)} names for {cols} columns")
    return matrix


def from_matrix(matrix):
    """Returns (dense float32 ndarray of rows x cols, list of column names) for a Matrix."""
    names = list(matrix.column_names)
    storage = matrix.WhichOneof("storage")
    if storage == "csr":
        csr = scipy.sparse.csr_matrix(
            (np.asarray(matrix.csr.data, dtype=np.float32),
             np.asarray(matrix.csr.indices, dtype=np.int64),
             np.asarray(matrix.csr.indptr, dtype=np.int64)),
            shape=(matrix.rows, matrix.cols))
        return csr.toarray(), names
    values = np.asarray(matrix.dense.values, dtype=np.float32)
    return values.reshape(matrix.rows, matrix.cols), names
