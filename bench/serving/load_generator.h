// LoadGenerator: drives an asynchronous call function at a fixed concurrency (closed loop) or at a fixed
// arrival rate (open loop) and reports throughput and latency percentiles. Transport-agnostic: the caller
// supplies `issue`, which starts one call and invokes its completion callback exactly once, from any
// thread (e.g. a gRPC callback-API stub call).
//
// Closed loop: `concurrency` calls are in flight at all times; each completion starts the next.
// Open loop: call k is due at start + k / rate, whatever is in flight, and its latency counts from when it
// was due, so a server that falls behind is charged for the queueing (no coordinated omission).
// Measured: calls due after the warm-up and before the end; in the closed loop only those that also finish
// before the end (so throughput is the window's), in the open loop all of them (so late calls count).
// Calls should carry a deadline (serving_load's --deadline_s): Run() waits for every call to finish.
//
// Thread-safety: Run() may be called once per object; completions may arrive on any thread.
#ifndef GENAILAB_BENCH_SERVING_LOAD_GENERATOR_H_
#define GENAILAB_BENCH_SERVING_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace genailab {

struct LoadReport {
  int64_t completed = 0;  // Measured successful calls.
  int64_t failed = 0;     // Measured failed calls.
  double seconds = 0;     // Measured window.
  double requests_per_second = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  std::string first_error;  // Message of the first failure, if any.
};

class LoadGenerator {
 public:
  // Completion callback: empty error = success.
  using Done = std::function<void(const std::string& error)>;
  using Issue = std::function<void(Done done)>;

  struct Options {
    // > 0: closed loop with this many calls in flight. Exactly one of concurrency and rate is set.
    int concurrency = 0;
    // > 0: open loop at this many calls per second.
    double rate = 0;
    // Unmeasured warm-up, then the measured window.
    absl::Duration warmup = absl::Seconds(1);
    absl::Duration duration = absl::Seconds(5);
    // Open loop: calls due while this many are in flight are counted as failed, not sent.
    int64_t max_in_flight = 20000;
  };

  // INVALID_ARGUMENT unless exactly one of concurrency/rate is positive and duration > 0.
  static absl::StatusOr<LoadReport> Run(const Options& options, const Issue& issue);
};

}  // namespace genailab

#endif  // GENAILAB_BENCH_SERVING_LOAD_GENERATOR_H_
