// scanpy-equivalent preprocessing: normalize_total and log1p, plus per-cell library sizes.
#ifndef GENAILAB_DATA_PREPROCESSING_H_
#define GENAILAB_DATA_PREPROCESSING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

// Per-row sums.
std::vector<float> RowSums(const DenseMatrix& x);
// Per-row sums of the `rows` x `cols` row-major values at `values`.
std::vector<float> RowSums(const float* values, int64_t rows, int64_t cols);
// Scales each row to sum to target_sum (rows summing to 0 stay 0), like sc.pp.normalize_total.
void NormalizeTotal(DenseMatrix* x, double target_sum);
// x <- log(1 + x), like sc.pp.log1p.
void Log1p(DenseMatrix* x);
// NormalizeTotal(x, target_sum) then Log1p(x), bit for bit. Rows of small integer counts (0..63, the
// usual request) take a shortcut: the row's few distinct outputs are computed once into a table, then
// each value is one lookup. Other rows take the two steps. `row_sums` (may be null) must be RowSums(*x).
void NormalizeTotalLog1p(DenseMatrix* x, double target_sum, const std::vector<float>* row_sums = nullptr);
// The same on the `rows` x `cols` row-major values at `source`, which stay as they are, into a new matrix:
// bit for bit as copying them into a DenseMatrix, checking it with CheckFinite and calling
// NormalizeTotalLog1p, but in one pass over `source` (for request values read where they were parsed).
// INVALID_ARGUMENT naming `field`, row and column, as CheckFinite, for a NaN or Inf.
absl::StatusOr<DenseMatrix> NormalizeTotalLog1pFrom(const float* source, int64_t rows, int64_t cols,
                                                    double target_sum, const std::vector<float>* row_sums,
                                                    const std::string& field);

}  // namespace genailab

#endif  // GENAILAB_DATA_PREPROCESSING_H_
