#include "data/preprocessing.h"

#include <cmath>

namespace genailab {

std::vector<float> RowSums(const DenseMatrix& x) {
  std::vector<float> sums(static_cast<size_t>(x.rows), 0.0f);
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* row = x.row(r);
    double sum = 0.0;  // accumulate in double: rows can hold tens of thousands of counts
    for (int64_t c = 0; c < x.cols; ++c) sum += row[c];
    sums[static_cast<size_t>(r)] = static_cast<float>(sum);
  }
  return sums;
}

void NormalizeTotal(DenseMatrix* x, double target_sum) {
  const std::vector<float> sums = RowSums(*x);
  for (int64_t r = 0; r < x->rows; ++r) {
    const double sum = sums[static_cast<size_t>(r)];
    if (sum == 0.0) continue;
    const double scale = target_sum / sum;
    float* row = x->row(r);
    for (int64_t c = 0; c < x->cols; ++c) row[c] = static_cast<float>(row[c] * scale);
  }
}

void Log1p(DenseMatrix* x) {
  for (float& v : x->values) v = std::log1p(v);
}

}  // namespace genailab
