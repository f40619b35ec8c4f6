#include "data/preprocessing.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

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
  // Bit-identical to std::log1p on every value, with fewer calls: expression data repeat values (zeros
  // above all, log1p(+-0) = +-0; and after normalize_total one count gives one value per row), so results
  // are memoized by bit pattern in a small direct-mapped table. Empty slots hold a quiet NaN mapped to
  // itself, which is also log1p's answer for that NaN.
  constexpr int kSlots = 64;
  uint32_t keys[kSlots];
  float results[kSlots];
  const float empty = std::numeric_limits<float>::quiet_NaN();
  uint32_t empty_bits;
  std::memcpy(&empty_bits, &empty, sizeof(empty_bits));
  for (int i = 0; i < kSlots; ++i) {
    keys[i] = empty_bits;
    results[i] = empty;
  }
  for (float& v : x->values) {
    if (v == 0.0f) continue;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    const int slot = static_cast<int>((bits * 2654435761u) >> 26);
    if (keys[slot] != bits) {
      keys[slot] = bits;
      results[slot] = std::log1p(v);
    }
    v = results[slot];
  }
}

}  // namespace genailab
