#include "data/preprocessing.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/status_macros.h"

namespace genailab {

namespace {

// The sum of one row, accumulated in double (rows can hold tens of thousands of counts).
float RowSum(const float* row, int64_t cols) {
  double sum = 0.0;
  for (int64_t c = 0; c < cols; ++c) sum += row[c];
  return static_cast<float>(sum);
}

}  // namespace

std::vector<float> RowSums(const float* values, int64_t rows, int64_t cols) {
  std::vector<float> sums(static_cast<size_t>(rows), 0.0f);
  for (int64_t r = 0; r < rows; ++r) sums[static_cast<size_t>(r)] = RowSum(values + r * cols, cols);
  return sums;
}

std::vector<float> RowSums(const DenseMatrix& x) { return RowSums(x.values.data(), x.rows, x.cols); }

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

// What ScanSmallCounts found in one row.
struct SmallCounts {
  bool all_small = true;  // every value an integer count in [0, kSmallCounts) with a clear sign bit
  int max_count = 0;
  int64_t sum = 0;        // exact, as the double sum of such values is
};

// One pass over `row` for the table path. Branch-free blocks of fixed length, so that the compiler
// vectorizes them (a value outside the range is clamped to 0 before its conversion to int, and only
// marks the row); -0.0 has its sign bit set and does not qualify (it must keep its sign).
SmallCounts ScanSmallCounts(const float* row, int64_t cols) {
  constexpr float kLimit = static_cast<float>(kSmallCounts);
  uint32_t limit_bits;
  std::memcpy(&limit_bits, &kLimit, sizeof(limit_bits));
  SmallCounts result;
  // Adds values [values, values + n) to `result`; false if one of them does not qualify. Blocks of
  // kBlock values sum within int32 (at most 32 * 63); `result` accumulates in int64.
  auto add = [limit_bits, &result](const float* values, int64_t n) {
    uint32_t bad = 0;
    int32_t sum = 0;
    int32_t max_count = 0;
    for (int64_t j = 0; j < n; ++j) {
      uint32_t bits;
      std::memcpy(&bits, &values[j], sizeof(bits));
      // Non-negative floats order like their bit patterns; negative ones (sign bit set) exceed the limit.
      // A value out of range becomes +0 (all bits cleared) and marks the row.
      const uint32_t in_range = 0u - static_cast<uint32_t>(bits < limit_bits);
      const uint32_t clamped_bits = bits & in_range;
      float clamped;
      std::memcpy(&clamped, &clamped_bits, sizeof(clamped));
      const int32_t k = static_cast<int32_t>(clamped);
      // An integer survives the round trip through int bit for bit.
      const float back = static_cast<float>(k);
      uint32_t back_bits;
      std::memcpy(&back_bits, &back, sizeof(back_bits));
      bad |= ~in_range | (back_bits ^ clamped_bits);
      sum += k;
      max_count = k > max_count ? k : max_count;
    }
    result.sum += sum;
    result.max_count = std::max(result.max_count, static_cast<int>(max_count));
    return bad == 0;
  };
  constexpr int64_t kBlock = 32;
  int64_t c = 0;
  for (; c + kBlock <= cols; c += kBlock) {
    if (!add(row + c, kBlock)) {
      result.all_small = false;
      return result;
    }
  }
  result.all_small = add(row + c, cols - c);
  return result;
}

// One row of NormalizeTotalLog1p, from `source` to `dest` (the same pointer for in place). `scan` is
// ScanSmallCounts of the row, `given_sum` its RowSums value or null, `table` room for kSmallCounts values.
void NormalizeTotalLog1pRow(const float* source, float* dest, int64_t cols, const SmallCounts& scan,
                            const float* given_sum, double target_sum, Log1pMemo* memo, float* table) {
  // A row of integer counts sums exactly (in double, as RowSums adds them, and in int64 alike), so its
  // scan's sum is RowSums' value; other rows are summed as RowSums does.
  const float row_sum = given_sum != nullptr ? *given_sum
                        : scan.all_small     ? static_cast<float>(static_cast<double>(scan.sum))
                                             : RowSum(source, cols);
  const double sum = row_sum;
  if (!scan.all_small || sum == 0.0) {
    // The two steps on this row (as NormalizeTotal, a row summing to 0 is left as it is).
    if (dest != source) std::memcpy(dest, source, static_cast<size_t>(cols) * sizeof(float));
    if (sum != 0.0) {
      const double scale = target_sum / sum;
      for (int64_t c = 0; c < cols; ++c) dest[c] = static_cast<float>(dest[c] * scale);
    }
    memo->Apply(dest, dest + cols);
    return;
  }
  // As NormalizeTotal (float count times double scale, rounded to float), then log1p (0 stays +0).
  const double scale = target_sum / sum;
  table[0] = static_cast<float>(0.0f * scale);
  for (int k = 1; k <= scan.max_count; ++k) {
    table[k] = std::log1p(static_cast<float>(static_cast<float>(k) * scale));
  }
  for (int64_t c = 0; c < cols; ++c) dest[c] = table[static_cast<int>(source[c])];
}

}  // namespace

void NormalizeTotalLog1p(DenseMatrix* x, double target_sum, const std::vector<float>* row_sums) {
  Log1pMemo memo;
  float table[kSmallCounts];
  for (int64_t r = 0; r < x->rows; ++r) {
    float* row = x->row(r);
    NormalizeTotalLog1pRow(row, row, x->cols, ScanSmallCounts(row, x->cols),
                           row_sums != nullptr ? &(*row_sums)[static_cast<size_t>(r)] : nullptr, target_sum,
                           &memo, table);
  }
}

absl::StatusOr<DenseMatrix> NormalizeTotalLog1pFrom(const float* source, int64_t rows, int64_t cols,
                                                    double target_sum, const std::vector<float>* row_sums,
                                                    const std::string& field) {
  DenseMatrix out(rows, cols);
  Log1pMemo memo;
  float table[kSmallCounts];
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = source + r * cols;
    const SmallCounts scan = ScanSmallCounts(row, cols);
    // A row of small counts is finite (the scan bounds every value); only the others need the check.
    if (!scan.all_small) {
      GENAILAB_RETURN_IF_ERROR(CheckFiniteValues(row, static_cast<size_t>(cols), cols, r, field));
    }
    NormalizeTotalLog1pRow(row, out.row(r), cols, scan,
                           row_sums != nullptr ? &(*row_sums)[static_cast<size_t>(r)] : nullptr, target_sum,
                           &memo, table);
  }
  return out;
}

}  // namespace genailab
