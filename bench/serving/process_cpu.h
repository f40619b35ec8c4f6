// CPU time of processes, for benchmarks that share one machine between a server and its load: how much
// of the machine each side used while the figures were measured.
//
// ProcessCpuSeconds reads user + system time from /proc/<pid>/stat (Linux), all threads included.
// CpuWindow samples a set of processes at the start and the end of a measured window, on its own thread,
// so that a caller busy driving load need not: Create() with the window's two time points, Finish() to
// join and get the seconds each process used in between.
#ifndef GENAILAB_BENCH_SERVING_PROCESS_CPU_H_
#define GENAILAB_BENCH_SERVING_PROCESS_CPU_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace genailab {

// User + system CPU seconds of process `pid` so far (0 = this process). NOT_FOUND when there is no such
// process, INTERNAL when its stat line cannot be parsed.
absl::StatusOr<double> ProcessCpuSeconds(int pid);

// Parses a /proc/<pid>/stat line (exposed for the test): user + system seconds at `ticks_per_second`.
absl::StatusOr<double> ParseStatCpuSeconds(const std::string& stat_line, double ticks_per_second);

class CpuWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // Samples `pids` (0 = this process) at `start` and at `end` on a background thread.
  static std::unique_ptr<CpuWindow> Create(std::vector<int> pids, Clock::time_point start, Clock::time_point end);
  ~CpuWindow();
  CpuWindow(const CpuWindow&) = delete;
  CpuWindow& operator=(const CpuWindow&) = delete;

  // Waits for the end sample; then the CPU seconds each process used in the window, in `pids` order. A
  // process that could not be read (it exited, say) gives its error.
  std::vector<absl::StatusOr<double>> Finish();

 private:
  CpuWindow() = default;

  std::vector<int> pids_;
  std::vector<absl::StatusOr<double>> at_start_;
  std::vector<absl::StatusOr<double>> at_end_;
  std::thread sampler_;
};

}  // namespace genailab

#endif  // GENAILAB_BENCH_SERVING_PROCESS_CPU_H_
