#include "bench/serving/load_generator.h"

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::HasSubstr;

// Completes every call on its own thread; every `fail_every`-th call fails (0 = never).
LoadGenerator::Issue FakeIssue(std::atomic<int64_t>* calls, int fail_every) {
  return [calls, fail_every](LoadGenerator::Done done) {
    const int64_t n = ++*calls;
    std::thread([done, n, fail_every] {
      done(fail_every > 0 && n % fail_every == 0 ? "UNAVAILABLE: fake" : "");
    }).detach();
  };
}

LoadGenerator::Options Short() {
  LoadGenerator::Options options;
  options.warmup = absl::Milliseconds(20);
  options.duration = absl::Milliseconds(200);
  return options;
}

TEST(LoadGeneratorTest, ClosedLoopMeasuresSuccessesAndFailures) {
  std::atomic<int64_t> calls{0};
  LoadGenerator::Options options = Short();
  options.concurrency = 4;
  absl::StatusOr<LoadReport> report = LoadGenerator::Run(options, FakeIssue(&calls, 2));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->completed, 0);
  EXPECT_GT(report->failed, 0);
  EXPECT_LE(report->completed + report->failed, calls.load());
  EXPECT_EQ(report->first_error, "UNAVAILABLE: fake");
  EXPECT_LE(report->p50_ms, report->p90_ms);
  EXPECT_LE(report->p90_ms, report->p99_ms);
  EXPECT_DOUBLE_EQ(report->requests_per_second, report->completed / 0.2);
}

TEST(LoadGeneratorTest, OpenLoopCountsEveryDueCall) {
  std::atomic<int64_t> calls{0};
  LoadGenerator::Options options = Short();
  options.rate = 100;  // 2 calls due in the warm-up, 20 in the window.
  absl::StatusOr<LoadReport> report = LoadGenerator::Run(options, FakeIssue(&calls, 0));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->failed, 0);
  EXPECT_EQ(report->completed, 20);
  EXPECT_EQ(calls.load(), 22);
}

TEST(LoadGeneratorTest, RejectsAmbiguousModes) {
  LoadGenerator::Options options = Short();
  std::atomic<int64_t> calls{0};
  absl::Status status = LoadGenerator::Run(options, FakeIssue(&calls, 0)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("exactly one of concurrency"));
  options.concurrency = 1;
  options.rate = 5;
  EXPECT_EQ(LoadGenerator::Run(options, FakeIssue(&calls, 0)).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
