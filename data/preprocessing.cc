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
  float operator()(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    const int slot = static_cast<int>((bits * 2654435761u) >> 26);
    if (keys_[slot] != bits) {
      keys_[slot] = bits;
      results_[slot] = std::log1p(v);
    }
    return results_[slot];
  }

 private:
  static constexpr int kSlots = 64;
  uint32_t keys_[kSlots];
  float results_[kSlots];
};

}  // namespace

void NormalizeTotalLog1p(DenseMatrix* x, double target_sum, const std::vector<float>* row_sums) {
  const std::vector<float> computed = row_sums == nullptr ? RowSums(*x) : std::vector<float>();
  const std::vector<float>& sums = row_sums == nullptr ? computed : *row_sums;
  Log1pMemo memo;
  constexpr int kCounts = 64;  // integer counts 1..63 are looked up per row
  float by_count[kCounts];
  for (int64_t r = 0; r < x->rows; ++r) {
    // As NormalizeTotal: rows summing to 0 are left as they are.
    const double sum = sums[static_cast<size_t>(r)];
    const bool scale_row = sum != 0.0;
    const double scale = scale_row ? target_sum / sum : 1.0;
    uint64_t known = 0;  // bit k: by_count[k] holds this row's value for count k
    float* row = x->row(r);
    for (int64_t c = 0; c < x->cols; ++c) {
      const float raw = row[c];
      const float scaled = scale_row ? static_cast<float>(raw * scale) : raw;
      if (scaled == 0.0f) {  // log1p(+-0) = +-0
        row[c] = scaled;
        continue;
      }
      if (raw > 0.0f && raw < static_cast<float>(kCounts)) {
        const int k = static_cast<int>(raw);
        if (static_cast<float>(k) == raw) {
          if (((known >> k) & 1) == 0) {
            by_count[k] = std::log1p(scaled);
            known |= uint64_t{1} << k;
          }
          row[c] = by_count[k];
          continue;
        }
      }
      row[c] = memo(scaled);
    }
  }
}

void Log1p(DenseMatrix* x) {
  // Bit-identical to std::log1p on every value, with fewer calls (see Log1pMemo); zeros stay as they
  // are (log1p(+-0) = +-0).
  Log1pMemo memo;
  for (float& v : x->values) {
    if (v != 0.0f) v = memo(v);
  }
}

}  // namespace genailab
