// In-memory matrices shared by every layer: a dense row-major float32 matrix and a CSR one.
// Plain value types with no torch dependency; thread-compatible (const access from many threads is safe).
#ifndef GENAILAB_DATA_MATRIX_H_
#define GENAILAB_DATA_MATRIX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace genailab {

// rows x cols, row-major. `values.size() == rows * cols` is the invariant Validate() checks.
struct DenseMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;

  DenseMatrix() = default;
  DenseMatrix(int64_t r, int64_t c) : rows(r), cols(c), values(static_cast<size_t>(r * c), 0.0f) {}

  float& at(int64_t r, int64_t c) { return values[static_cast<size_t>(r * cols + c)]; }
  float at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
  const float* row(int64_t r) const { return values.data() + r * cols; }
  float* row(int64_t r) { return values.data() + r * cols; }

  // INVALID_ARGUMENT (naming `field`) on negative shapes or a value count that does not match them.
  absl::Status Validate(const std::string& field = "matrix") const;
  // INVALID_ARGUMENT (naming `field`, row and column) on the first NaN or Inf.
  absl::Status CheckFinite(const std::string& field = "matrix") const;
  // The rows in `indices`, in that order.
  DenseMatrix SelectRows(const std::vector<int64_t>& indices) const;
};

// INVALID_ARGUMENT (naming `field`, row and column) on the first NaN or Inf of the `n` row-major values at
// `values`, a matrix of `cols` columns whose first row is row `first_row` (for checking a slice of rows).
absl::Status CheckFiniteValues(const float* values, size_t n, int64_t cols, int64_t first_row,
                               const std::string& field);

// Compressed sparse rows, as scipy/anndata store them.
struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;
  std::vector<int64_t> indices;
  std::vector<int64_t> indptr;  // rows + 1 entries

  // INVALID_ARGUMENT (naming `field`) on negative shapes, indptr of the wrong length or not
  // non-decreasing, indptr[rows] != data.size(), indices/data size mismatch, or a column out of range.
  absl::Status Validate(const std::string& field = "matrix") const;
  // Validates, then expands.
  absl::StatusOr<DenseMatrix> ToDense(const std::string& field = "matrix") const;
  static CsrMatrix FromDense(const DenseMatrix& dense);
};

}  // namespace genailab

#endif  // GENAILAB_DATA_MATRIX_H_
