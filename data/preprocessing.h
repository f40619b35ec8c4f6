// scanpy-equivalent preprocessing: normalize_total and log1p, plus per-cell library sizes.
#ifndef GENAILAB_DATA_PREPROCESSING_H_
#define GENAILAB_DATA_PREPROCESSING_H_

#include <vector>

#include "data/matrix.h"

namespace genailab {

// Per-row sums.
std::vector<float> RowSums(const DenseMatrix& x);
// Scales each row to sum to target_sum (rows summing to 0 stay 0), like sc.pp.normalize_total.
void NormalizeTotal(DenseMatrix* x, double target_sum);
// x <- log(1 + x), like sc.pp.log1p.
void Log1p(DenseMatrix* x);
// NormalizeTotal(x, target_sum) then Log1p(x), bit for bit. Rows of small integer counts (0..63, the
// usual request) take a shortcut: the row's few distinct outputs are computed once into a table, then
// each value is one lookup. Other rows take the two steps. `row_sums` (may be null) must be RowSums(*x).
void NormalizeTotalLog1p(DenseMatrix* x, double target_sum, const std::vector<float>* row_sums = nullptr);

}  // namespace genailab

#endif  // GENAILAB_DATA_PREPROCESSING_H_
