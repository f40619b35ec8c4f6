#include "bench/serving/load_generator.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace genailab {
namespace {

using Clock = std::chrono::steady_clock;

// Shared by every call of one run.
class RunState {
 public:
  // count_late: measure calls due in the window even when they finish after it (open loop: a slow server
  // must not hide its slowest calls); otherwise only calls that finish inside it (closed loop throughput).
  RunState(Clock::time_point measure_start, Clock::time_point end, bool count_late)
      : measure_start_(measure_start), end_(end), count_late_(count_late) {}

  void Started() {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }

  void Finished(Clock::time_point due, const std::string& error) {
    const Clock::time_point now = Clock::now();
    absl::MutexLock lock(&mu_);
    --in_flight_;
    if (due < measure_start_ || due >= end_ || (!count_late_ && now > end_)) return;
    if (error.empty()) {
      latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - due).count());
    } else {
      ++failed_;
      if (first_error_.empty()) first_error_ = error;
    }
  }

  void Dropped(Clock::time_point due) {
    absl::MutexLock lock(&mu_);
    if (due < measure_start_ || due > end_) return;
    ++failed_;
    if (first_error_.empty()) first_error_ = "open loop: too many calls in flight";
  }

  int64_t in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }

  void WaitIdle() const {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](const int64_t* in_flight) { return *in_flight == 0; }, &in_flight_));
  }

  LoadReport Report(double seconds) {
    absl::MutexLock lock(&mu_);
    LoadReport report;
    report.completed = static_cast<int64_t>(latencies_ms_.size());
    report.failed = failed_;
    report.seconds = seconds;
    report.requests_per_second = report.completed / seconds;
    report.first_error = first_error_;
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    auto percentile = [this](double q) {
      if (latencies_ms_.empty()) return 0.0;
      const size_t index = std::min(latencies_ms_.size() - 1, static_cast<size_t>(q * latencies_ms_.size()));
      return latencies_ms_[index];
    };
    report.p50_ms = percentile(0.50);
    report.p90_ms = percentile(0.90);
    report.p99_ms = percentile(0.99);
    return report;
  }

  const Clock::time_point measure_start_;
  const Clock::time_point end_;
  const bool count_late_;

 private:
  mutable absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
};

// Starts one closed-loop call; its completion starts the next until the end.
void LaunchClosed(const std::shared_ptr<RunState>& state, const LoadGenerator::Issue& issue) {
  const Clock::time_point due = Clock::now();
  if (due >= state->end_) return;
  state->Started();
  issue([state, issue, due](const std::string& error) {
    state->Finished(due, error);
    LaunchClosed(state, issue);
  });
}

}  // namespace

absl::StatusOr<LoadReport> LoadGenerator::Run(const Options& options, const Issue& issue) {
  if ((options.concurrency > 0) == (options.rate > 0)) {
    return absl::InvalidArgumentError("exactly one of concurrency (closed loop) and rate (open loop) must be set");
  }
  if (options.duration <= absl::ZeroDuration()) return absl::InvalidArgumentError("duration must be positive");
  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_start = start + absl::ToChronoNanoseconds(options.warmup);
  const Clock::time_point end = measure_start + absl::ToChronoNanoseconds(options.duration);
  auto state = std::make_shared<RunState>(measure_start, end, /*count_late=*/options.rate > 0);
  if (options.concurrency > 0) {
    for (int i = 0; i < options.concurrency; ++i) LaunchClosed(state, issue);
  } else {
    const std::chrono::duration<double> interval(1.0 / options.rate);
    for (int64_t k = 0;; ++k) {
      const Clock::time_point due = start + std::chrono::duration_cast<Clock::duration>(interval * k);
      if (due >= end) break;
      std::this_thread::sleep_until(due);
      if (state->in_flight() >= options.max_in_flight) {
        state->Dropped(due);
        continue;
      }
      state->Started();
      issue([state, due](const std::string& error) { state->Finished(due, error); });
    }
  }
  std::this_thread::sleep_until(end);
  state->WaitIdle();
  return state->Report(absl::ToDoubleSeconds(options.duration));
}

}  // namespace genailab
