#include "data/preprocessing.h"

#include <algorithm>
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

namespace {

// std::log1p memoized by bit pattern in a small direct-mapped table: expression data repeat values
// (after normalize_total, one count gives one value per row). Empty slots hold a quiet NaN mapped to
// itself, which is also log1p's answer for that NaN, so results are bit-identical to std::log1p.
class Log1pMemo {
 public:
  Log1pMemo() {
    const float empty = std::numeric_limits<float>::quiet_NaN();
    uint32_t empty_bits;
    std::memcpy(&empty_bits, &empty, sizeof(empty_bits));
    for (int i = 0; i < kSlots; ++i) {
      keys_[i] = empty_bits;
      results_[i] = empty;
    }
  }
  // log1p of every value of [begin, end) in place; zeros stay as they are (log1p(+-0) = +-0).
  void Apply(float* begin, float* end) {
    for (float* v = begin; v != end; ++v) {
      if (*v == 0.0f) continue;
      uint32_t bits;
      std::memcpy(&bits, v, sizeof(bits));
      const int slot = static_cast<int>((bits * 2654435761u) >> 26);
      if (keys_[slot] != bits) {
        keys_[slot] = bits;
        results_[slot] = std::log1p(*v);
      }
      *v = results_[slot];
    }
  }

 private:
  static constexpr int kSlots = 64;
  uint32_t keys_[kSlots];
  float results_[kSlots];
};

}  // namespace

void Log1p(DenseMatrix* x) {
  // Bit-identical to std::log1p on every value, with fewer calls (see Log1pMemo).
  Log1pMemo memo;
  memo.Apply(x->values.data(), x->values.data() + x->values.size());
}

namespace {

constexpr int kSmallCounts = 64;

// The largest count of `row` when every value is an integer in [0, kSmallCounts) with a clear sign
// bit (so -0.0 does not qualify); -1 otherwise.
int MaxSmallCount(const float* row, int64_t cols) {
  constexpr float kLimit = static_cast<float>(kSmallCounts);
  uint32_t limit_bits;
  std::memcpy(&limit_bits, &kLimit, sizeof(limit_bits));
  int max_count = 0;
  for (int64_t c = 0; c < cols; ++c) {
    uint32_t bits;
    std::memcpy(&bits, &row[c], sizeof(bits));
    // Non-negative floats order like their bit patterns; negative ones (sign bit set) exceed the limit.
    if (bits >= limit_bits) return -1;
    const int k = static_cast<int>(row[c]);
    if (static_cast<float>(k) != row[c]) return -1;
    max_count = std::max(max_count, k);
  }
  return max_count;
}

}  // namespace

void NormalizeTotalLog1p(DenseMatrix* x, double target_sum, const std::vector<float>* row_sums) {
  const std::vector<float> computed = row_sums == nullptr ? RowSums(*x) : std::vector<float>();
  const std::vector<float>& sums = row_sums == nullptr ? computed : *row_sums;
  Log1pMemo memo;
  float table[kSmallCounts];
  for (int64_t r = 0; r < x->rows; ++r) {
    float* row = x->row(r);
    const double sum = sums[static_cast<size_t>(r)];
    const int max_count = MaxSmallCount(row, x->cols);
    if (max_count < 0 || sum == 0.0) {
      // The two steps on this row (as NormalizeTotal, a row summing to 0 is left as it is).
      if (sum != 0.0) {
        const double scale = target_sum / sum;
        for (int64_t c = 0; c < x->cols; ++c) row[c] = static_cast<float>(row[c] * scale);
      }
      memo.Apply(row, row + x->cols);
      continue;
    }
    // As NormalizeTotal (float count times double scale, rounded to float), then log1p (0 stays +0).
    const double scale = target_sum / sum;
    table[0] = static_cast<float>(0.0f * scale);
    for (int k = 1; k <= max_count; ++k) table[k] = std::log1p(static_cast<float>(static_cast<float>(k) * scale));
    for (int64_t c = 0; c < x->cols; ++c) row[c] = table[static_cast<int>(row[c])];
  }
}

}  // namespace genailab
