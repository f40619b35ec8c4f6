// serving_limit: the in-process limit. Loads a checkpoint with LoadCheckpoint and calls the model's
// Encode, Generate, Decode or PredictPerturbation (from the first to the second value of the manifest's
// condition covariate) directly on pre-made batches (no gRPC, no request parsing, no preprocessing) from
// --threads threads for --duration_s, then prints one JSON object like serving_load's:
//   {"label":..., "rpc":..., "cells":..., "threads":..., "requests_per_second":..., "cells_per_second":...,
//    "p50_ms":..., "p90_ms":..., "p99_ms":..., "seconds":..., "completed":..., "failed":..., "cpu_seconds": {"self": S}}
//
//   serving_limit --model_dir=repo/bench_cvae/1 --rpc=encode --cells=1024
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "bench/serving/process_cpu.h"
#include "common/malloc_tuning.h"
#include "data/matrix.h"
#include "models/checkpoint.h"
#include "models/generative_model.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model_dir, "", "Checkpoint folder <repository>/<model>/<version>.");
ABSL_FLAG(std::string, rpc, "encode", "encode, generate, decode or predict.");
ABSL_FLAG(int64_t, cells, 1024, "Cells per batch.");
ABSL_FLAG(int, threads, 1, "Threads calling the model at once.");
ABSL_FLAG(double, duration_s, 5, "Measured seconds.");
ABSL_FLAG(double, warmup_s, 1, "Unmeasured warm-up seconds.");
ABSL_FLAG(std::string, label, "inprocess", "Copied into the JSON output.");

namespace genailab {
namespace {

using Clock = std::chrono::steady_clock;

int Run() {
  absl::StatusOr<std::unique_ptr<GenerativeModel>> model = LoadCheckpoint(absl::GetFlag(FLAGS_model_dir), "cpu");
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  const ModelManifest& manifest = (*model)->manifest();
  const int64_t cells = absl::GetFlag(FLAGS_cells);
  DenseMatrix x(cells, static_cast<int64_t>(manifest.gene_names.size()));
  std::mt19937 random(7);
  for (float& v : x.values) v = std::log1p(static_cast<float>(random() % 5));
  CovariateCodes codes(manifest.covariates.size(), std::vector<int64_t>(static_cast<size_t>(cells), 0));
  CovariateCodes generate_codes(manifest.covariates.size(), std::vector<int64_t>(static_cast<size_t>(cells), 0));
  DenseMatrix z(cells, manifest.latent_dim);
  for (float& v : z.values) v = static_cast<float>(static_cast<int>(random() % 41) - 20) * 0.1f;
  const int condition = manifest.CovariateIndex(manifest.condition_key);
  const std::vector<std::string> conditions =
      condition >= 0 ? manifest.covariates[static_cast<size_t>(condition)].values : std::vector<std::string>();
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (rpc != "encode" && rpc != "generate" && rpc != "decode" && rpc != "predict") {
    std::cerr << "--rpc must be encode, generate, decode or predict, got " << rpc << "\n";
    return 2;
  }
  if (rpc == "predict" && conditions.size() < 2) {
    std::cerr << "--rpc=predict needs a condition covariate with two values in the manifest\n";
    return 2;
  }
  const auto call = [&](uint64_t seed) {
    if (rpc == "encode") return (*model)->Encode(x, codes).ok();
    if (rpc == "decode") return (*model)->Decode(z, codes, {}).ok();
    if (rpc == "predict") {
      return (*model)
          ->PredictPerturbation(x, codes, conditions[0], conditions[1], PerturbationMethod::kDefault, {})
          .ok();
    }
    return (*model)->Generate(cells, generate_codes, seed, 0.0f, false).ok();
  };

  const Clock::time_point measure_start =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_s)));
  const Clock::time_point end = measure_start + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(absl::GetFlag(FLAGS_duration_s)));
  std::unique_ptr<CpuWindow> cpu = CpuWindow::Create({0}, measure_start, end);
  absl::Mutex mu;
  std::vector<double> latencies_ms;
  int64_t failed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, absl::GetFlag(FLAGS_threads)); ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t seed = t;; seed += 1000) {
        const Clock::time_point start = Clock::now();
        if (start >= end) return;
        const bool ok = call(seed);
        const Clock::time_point done = Clock::now();
        if (start < measure_start || done > end) continue;
        absl::MutexLock lock(&mu);
        if (ok) {
          latencies_ms.push_back(std::chrono::duration<double, std::milli>(done - start).count());
        } else {
          ++failed;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const absl::StatusOr<double> cpu_seconds = cpu->Finish()[0];
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto percentile = [&](double q) {
    return latencies_ms.empty() ? 0.0
                                : latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(q * latencies_ms.size()))];
  };
  const double seconds = absl::GetFlag(FLAGS_duration_s);
  const double rps = static_cast<double>(latencies_ms.size()) / seconds;
  nlohmann::json json = {
      {"label", absl::GetFlag(FLAGS_label)},
      {"rpc", absl::GetFlag(FLAGS_rpc)},
      {"cells", cells},
      {"mode", "inprocess"},
      {"threads", absl::GetFlag(FLAGS_threads)},
      {"requests_per_second", rps},
      {"cells_per_second", rps * static_cast<double>(cells)},
      {"p50_ms", percentile(0.5)},
      {"p90_ms", percentile(0.9)},
      {"p99_ms", percentile(0.99)},
      {"seconds", seconds},
      {"completed", static_cast<int64_t>(latencies_ms.size())},
      {"failed", failed},
      {"cpu_seconds", nlohmann::json::object()},
  };
  if (cpu_seconds.ok()) json["cpu_seconds"]["self"] = *cpu_seconds;
  std::cout << json.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  // The same malloc settings as genailab-server, so that neither side of a comparison pays page faults
  // the other does not.
  genailab::KeepLargeBuffersInHeap();
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
