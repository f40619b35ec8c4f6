#include "models/row_linear.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace genailab {
namespace {

// bias + x[0]*w[0] + x[1]*w[1] + ..., one rounded multiply and one rounded add per term, one output at a
// time: the order every kernel must reproduce bit for bit.
__attribute__((optimize("fp-contract=off"))) std::vector<float> Reference(const std::vector<float>& x, int64_t rows,
                                                                        int64_t in, const std::vector<float>& wt,
                                                                        int64_t stride, const std::vector<float>& bias,
                                                                        int64_t out) {
  std::vector<float> y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      volatile float acc = bias[static_cast<size_t>(c)];
      for (int64_t p = 0; p < in; ++p) {
        const volatile float product = x[static_cast<size_t>(r * in + p)] * wt[static_cast<size_t>(p * stride + c)];
        acc = acc + product;
      }
      y[static_cast<size_t>(r * out + c)] = acc;
    }
  }
  return y;
}

// Values with many significant bits and mixed signs, so that another summation order or a fused
// multiply-add would change results.
float Value(uint32_t i) {
  const uint32_t h = i * 2654435761u;
  return (static_cast<float>(h >> 8) / 16777216.0f - 0.5f) * 3.7f;
}

TEST(RowLinearTest, EveryKernelComputesEachOutputInTheReferenceOrder) {
  const std::vector<RowLinearKernel> kernels = SupportedRowLinearKernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_EQ(kernels.front(), RowLinearKernel::kBaseline);
  for (const RowLinearKernel kernel : kernels) {
    for (const int64_t rows : {1, 2, 3, 5, 7, 11, 12, 13, 25}) {
      for (const int64_t in : {1, 5, 34}) {
        for (const int64_t out : {1, 5, 8, 15, 16, 31, 40, 45, 200}) {
          const int64_t stride = RowLinearStride(out);
          ASSERT_GE(stride, out);
          ASSERT_EQ(stride % 16, 0);
          std::vector<float> x(static_cast<size_t>(rows * in));
          for (size_t i = 0; i < x.size(); ++i) x[i] = Value(static_cast<uint32_t>(i + 7 * rows));
          std::vector<float> wt(static_cast<size_t>(in * stride), 0.0f);
          std::vector<float> bias(static_cast<size_t>(stride), 0.0f);
          for (int64_t p = 0; p < in; ++p) {
            for (int64_t c = 0; c < out; ++c) {
              wt[static_cast<size_t>(p * stride + c)] = Value(static_cast<uint32_t>(1000 + p * out + c));
            }
          }
          for (int64_t c = 0; c < out; ++c) bias[static_cast<size_t>(c)] = Value(static_cast<uint32_t>(99 + c));
          // Room past the output that must stay untouched.
          std::vector<float> y(static_cast<size_t>(rows * out + 16), -7.0f);
          RowLinear(kernel, x.data(), rows, in, wt.data(), stride, bias.data(), out, y.data());
          const std::vector<float> expected = Reference(x, rows, in, wt, stride, bias, out);
          ASSERT_EQ(std::memcmp(y.data(), expected.data(), expected.size() * sizeof(float)), 0)
              << "kernel " << static_cast<int>(kernel) << ", " << rows << " x " << in << " -> " << out;
          for (size_t i = expected.size(); i < y.size(); ++i) ASSERT_EQ(y[i], -7.0f) << "wrote past the output";
        }
      }
    }
  }
  // The default RowLinear is one of them.
  const int64_t stride = RowLinearStride(3);
  std::vector<float> wt(static_cast<size_t>(2 * stride), 0.0f), bias(static_cast<size_t>(stride), 0.0f);
  wt[0] = 2.0f;
  wt[static_cast<size_t>(stride) + 2] = 3.0f;
  bias[1] = 1.0f;
  const std::vector<float> x = {1.0f, 2.0f};
  std::vector<float> y(3);
  RowLinear(x.data(), 1, 2, wt.data(), stride, bias.data(), 3, y.data());
  EXPECT_EQ(y, (std::vector<float>{2.0f, 1.0f, 6.0f}));
}

}  // namespace
}  // namespace genailab
