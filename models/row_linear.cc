#include "models/row_linear.h"

#include <algorithm>
#include <cstring>

namespace genailab {
namespace {

constexpr int64_t kWidestVector = 16;

// Rows [r0, r0 + kRows) and columns [c0, c0 + kBlocks * kWidth), of which the first
// (kBlocks - 1) * kWidth + last_lanes are stored (the rest of a last block lies in wt's padding).
template <int kWidth, int kBlocks, int kRows>
__attribute__((always_inline, optimize("fp-contract=off"))) inline void Block(
    const float* x, int64_t r0, int64_t in, const float* wt, int64_t stride, const float* bias, int64_t out,
    int64_t c0, int64_t last_lanes, float* y) {
  typedef float V __attribute__((vector_size(kWidth * sizeof(float))));
  const float* xr[kRows];
  for (int r = 0; r < kRows; ++r) xr[r] = x + (r0 + r) * in;
  V acc[kRows][kBlocks];
  for (int b = 0; b < kBlocks; ++b) {
    V bias_block;
    std::memcpy(&bias_block, bias + c0 + b * kWidth, sizeof(V));
    for (int r = 0; r < kRows; ++r) acc[r][b] = bias_block;
  }
  for (int64_t p = 0; p < in; ++p) {
    V w[kBlocks];
    for (int b = 0; b < kBlocks; ++b) std::memcpy(&w[b], wt + p * stride + c0 + b * kWidth, sizeof(V));
    for (int r = 0; r < kRows; ++r) {
      const float xv = xr[r][p];
      for (int b = 0; b < kBlocks; ++b) acc[r][b] = acc[r][b] + xv * w[b];
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int b = 0; b < kBlocks; ++b) {
      const int64_t lanes = b + 1 < kBlocks ? kWidth : last_lanes;
      std::memcpy(y + (r0 + r) * out + c0 + b * kWidth, &acc[r][b], static_cast<size_t>(lanes) * sizeof(float));
    }
  }
}

// Rows [r0, r0 + kRows), every column: blocks of kBlocks vectors of kWidth floats, then single vectors for
// the columns left over, the last of them over the padding.
template <int kWidth, int kBlocks, int kRows>
__attribute__((always_inline, optimize("fp-contract=off"))) inline void Rows(
    const float* x, int64_t r0, int64_t in, const float* wt, int64_t stride, const float* bias, int64_t out,
    float* y) {
  int64_t c = 0;
  for (; c + kBlocks * kWidth <= out; c += kBlocks * kWidth) {
    Block<kWidth, kBlocks, kRows>(x, r0, in, wt, stride, bias, out, c, kWidth, y);
  }
  for (; c < out; c += kWidth) {
    Block<kWidth, 1, kRows>(x, r0, in, wt, stride, bias, out, c, std::min<int64_t>(kWidth, out - c), y);
  }
}

// The last n rows from r0 (1 <= n <= kRows) as one block of exactly n rows, so that no row is computed
// for nothing: a batch of one cell costs one row.
template <int kWidth, int kBlocks, int kRows>
__attribute__((always_inline, optimize("fp-contract=off"))) inline void TailRows(
    int64_t n, const float* x, int64_t r0, int64_t in, const float* wt, int64_t stride, const float* bias,
    int64_t out, float* y) {
  if constexpr (kRows > 1) {
    if (n < kRows) return TailRows<kWidth, kBlocks, kRows - 1>(n, x, r0, in, wt, stride, bias, out, y);
  }
  Rows<kWidth, kBlocks, kRows>(x, r0, in, wt, stride, bias, out, y);
}

// The whole product: blocks of kRows rows, then one block of the rows left.
template <int kWidth, int kBlocks, int kRows>
__attribute__((always_inline, optimize("fp-contract=off"))) inline void Blocked(
    const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride, const float* bias, int64_t out,
    float* y) {
  int64_t r0 = 0;
  for (; r0 + kRows <= rows; r0 += kRows) Rows<kWidth, kBlocks, kRows>(x, r0, in, wt, stride, bias, out, y);
  if (r0 < rows) TailRows<kWidth, kBlocks, kRows - 1>(rows - r0, x, r0, in, wt, stride, bias, out, y);
}

// The blockings (rows x vectors of accumulators per block) are the fastest of a few tried with
// bench/models/row_linear_bench; bench/results/row_linear.jsonl holds a run on the development machine.
__attribute__((optimize("fp-contract=off"))) void BaselineKernel(const float* x, int64_t rows, int64_t in,
                                                                const float* wt, int64_t stride, const float* bias,
                                                                int64_t out, float* y) {
  Blocked<4, 2, 6>(x, rows, in, wt, stride, bias, out, y);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GENAILAB_ROW_LINEAR_X86 1
// The kernels ask for the one extension their vectors need (not a whole x86-64-v3/v4 level), so that any
// GCC that knows the extension builds them and one runtime check per kernel covers what they may use.
__attribute__((target("avx2"), optimize("fp-contract=off"))) void Avx2Kernel(
    const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride, const float* bias, int64_t out,
    float* y) {
  Blocked<8, 2, 8>(x, rows, in, wt, stride, bias, out, y);
}

__attribute__((target("avx512f"), optimize("fp-contract=off"))) void Avx512Kernel(
    const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride, const float* bias, int64_t out,
    float* y) {
  Blocked<16, 2, 12>(x, rows, in, wt, stride, bias, out, y);
}
#endif

}  // namespace

std::vector<RowLinearKernel> SupportedRowLinearKernels() {
  std::vector<RowLinearKernel> kernels = {RowLinearKernel::kBaseline};
#ifdef GENAILAB_ROW_LINEAR_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) kernels.push_back(RowLinearKernel::kAvx2);
  if (__builtin_cpu_supports("avx512f")) kernels.push_back(RowLinearKernel::kAvx512);
#endif
  return kernels;
}

int64_t RowLinearStride(int64_t out) { return (out + kWidestVector - 1) / kWidestVector * kWidestVector; }

void RowLinear(RowLinearKernel kernel, const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride,
               const float* bias, int64_t out, float* y) {
  switch (kernel) {
#ifdef GENAILAB_ROW_LINEAR_X86
    case RowLinearKernel::kAvx512:
      Avx512Kernel(x, rows, in, wt, stride, bias, out, y);
      return;
    case RowLinearKernel::kAvx2:
      Avx2Kernel(x, rows, in, wt, stride, bias, out, y);
      return;
#endif
    default:
      BaselineKernel(x, rows, in, wt, stride, bias, out, y);
      return;
  }
}

void RowLinear(const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride, const float* bias,
               int64_t out, float* y) {
  static const RowLinearKernel best = SupportedRowLinearKernels().back();
  RowLinear(best, x, rows, in, wt, stride, bias, out, y);
}

}  // namespace genailab
