// RowLinear: y = x * wt + bias for a linear layer, computed so that row i of y depends on row i of x
// only, bit for bit, whatever the other rows and on whichever CPU kernel.
//
// BLAS kernels change their summation order with the shape of the call (OpenBLAS picks other kernels for
// a row that ends a panel, for small matrices, and splits work differently across threads), so a row
// computed with company can differ in the last bit from the same row computed alone. Generate promises
// the same cells for the same seed whatever a request is batched with, so its decoder uses RowLinear:
// every output is bias + x[0]*w[0] + x[1]*w[1] + ... in that order, one multiply and one add each (no
// fused multiply-add), whichever vector width computes it.
//
// The kernels differ in vector width and register blocking only, chosen per instruction set at run time
// (a 16-float vector written for AVX-512 runs twenty times slower when the compiler has to split it for
// AVX2, so each instruction set gets a width of its own). Thread-safe: pure functions.
#ifndef GENAILAB_MODELS_ROW_LINEAR_H_
#define GENAILAB_MODELS_ROW_LINEAR_H_

#include <cstdint>
#include <vector>

namespace genailab {

enum class RowLinearKernel {
  kBaseline,  // 4-float vectors: any CPU (SSE2 on x86-64, NEON on ARM)
  kAvx2,      // 8-float vectors: AVX2
  kAvx512,    // 16-float vectors: AVX-512F
};

// The kernels this CPU can run, kBaseline first; the last is the one RowLinear uses.
std::vector<RowLinearKernel> SupportedRowLinearKernels();

// The row length of the padded transposed weight (and of the padded bias) for `out` columns: `out`
// rounded up to the widest kernel's vector.
int64_t RowLinearStride(int64_t out);

// y (rows x out, row-major) = x (rows x in) * wt + bias. `wt` is the transposed weight, in x out, stored
// in rows of `stride` = RowLinearStride(out) floats whose columns past `out` are zero; `bias` has `stride`
// floats, zero past `out`. The last vector of a row reads that padding; nothing past `out` is written.
void RowLinear(const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride, const float* bias,
               int64_t out, float* y);
// The same with a given kernel, which must be one of SupportedRowLinearKernels() (for tests).
void RowLinear(RowLinearKernel kernel, const float* x, int64_t rows, int64_t in, const float* wt, int64_t stride,
               const float* bias, int64_t out, float* y);

}  // namespace genailab

#endif  // GENAILAB_MODELS_ROW_LINEAR_H_
