// row_linear_bench: the speed of each RowLinear kernel this CPU supports (models/row_linear.h) on the
// products of Generate's decoder: 1024 rows x 128 inputs -> 200 and 765 outputs (the serving benchmark's
// 200-gene cVAE and a PBMC-sized one), and 3 rows -> 200 (a batch of 1-cell requests). Prints one JSON
// object per kernel and shape:
//   {"kernel":..., "rows":..., "in":..., "out":..., "best_us":..., "gmac_per_second":...}
// The best of --repeats runs (a run of a small product makes many calls and counts their mean); every
// kernel's result is checked against the baseline's, bit for bit.
//
//   bazel run //bench/models:row_linear_bench -- --repeats=50
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "models/row_linear.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int, repeats, 30, "Runs per kernel and shape; the fastest counts.");

namespace genailab {
namespace {

const char* Name(RowLinearKernel kernel) {
  switch (kernel) {
    case RowLinearKernel::kAvx512:
      return "avx512";
    case RowLinearKernel::kAvx2:
      return "avx2";
    default:
      return "baseline";
  }
}

int Run() {
  constexpr int64_t kIn = 128;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1024, 200}, {1024, 765}, {3, 200}};
  for (const auto& [rows, out] : shapes) {
    const int64_t stride = RowLinearStride(out);
    std::vector<float> x(static_cast<size_t>(rows * kIn));
    std::vector<float> wt(static_cast<size_t>(kIn * stride), 0.0f);
    std::vector<float> bias(static_cast<size_t>(stride), 0.0f);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.1f - 0.6f;
    for (int64_t p = 0; p < kIn; ++p) {
      for (int64_t c = 0; c < out; ++c) {
        wt[static_cast<size_t>(p * stride + c)] = static_cast<float>((p + c) % 7) * 0.01f;
      }
    }
    for (int64_t c = 0; c < out; ++c) bias[static_cast<size_t>(c)] = 0.5f;
    std::vector<float> baseline;
    for (const RowLinearKernel kernel : SupportedRowLinearKernels()) {
      std::vector<float> y(static_cast<size_t>(rows * out));
      // A small product is timed over enough calls to last about a millisecond.
      const int64_t calls = std::max<int64_t>(1, 20000000 / (rows * kIn * out));
      double best = 1e30;
      for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_repeats)); ++i) {
        const auto start = std::chrono::steady_clock::now();
        for (int64_t call = 0; call < calls; ++call) {
          RowLinear(kernel, x.data(), rows, kIn, wt.data(), stride, bias.data(), out, y.data());
        }
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls);
      }
      if (baseline.empty()) baseline = y;
      if (std::memcmp(baseline.data(), y.data(), y.size() * sizeof(float)) != 0) {
        std::cerr << Name(kernel) << ": results differ from the baseline kernel's\n";
        return 1;
      }
      const nlohmann::json json = {{"kernel", Name(kernel)},   {"rows", rows},
                                   {"in", kIn},                {"out", out},
                                   {"best_us", best * 1e6},    {"gmac_per_second", rows * kIn * out / best / 1e9}};
      std::cout << json.dump() << std::endl;
    }
  }
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
