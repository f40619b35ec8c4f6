#include "bench/serving/process_cpu.h"

#include <unistd.h>

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(ProcessCpuTest, ParsesUserPlusSystemTicksAfterACommWithSpacesAndParentheses) {
  // Fields after comm: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime.
  const std::string line = "4242 (my (odd) name) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3";
  absl::StatusOr<double> seconds = ParseStatCpuSeconds(line, 100.0);
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  EXPECT_DOUBLE_EQ(*seconds, 3.0);
}

TEST(ProcessCpuTest, RefusesATruncatedStatLine) {
  absl::StatusOr<double> seconds = ParseStatCpuSeconds("4242 (x) R 1 2 3", 100.0);
  ASSERT_FALSE(seconds.ok());
  EXPECT_EQ(seconds.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(seconds.status().message(), HasSubstr("utime"));
  EXPECT_EQ(ParseStatCpuSeconds("no parenthesis", 100.0).status().code(), absl::StatusCode::kInternal);
}

TEST(ProcessCpuTest, ANonexistentProcessIsNotFound) {
  // Linux pids stay below 2^22 (pid_max's ceiling).
  EXPECT_EQ(ProcessCpuSeconds(1 << 30).status().code(), absl::StatusCode::kNotFound);
}

// Spins until this process has used `seconds` more CPU time; returns the CPU time it saw pass.
double Spin(double seconds) {
  const double start = *ProcessCpuSeconds(0);
  volatile double sink = 0;
  double now = start;
  while (now - start < seconds) {
    for (int i = 0; i < 100000; ++i) sink = sink + i;
    now = *ProcessCpuSeconds(0);
  }
  return now - start;
}

TEST(ProcessCpuTest, AWindowCountsTheCpuUsedBetweenItsSamples) {
  const auto start = CpuWindow::Clock::now();
  const auto end = start + std::chrono::seconds(2);
  std::unique_ptr<CpuWindow> window = CpuWindow::Create({0, getpid(), 1 << 30}, start, end);
  const double spun = Spin(0.2);
  if (CpuWindow::Clock::now() >= end) GTEST_SKIP() << "the machine was too busy to spin 0.2 s of CPU in 2 s";
  std::vector<absl::StatusOr<double>> used = window->Finish();
  ASSERT_EQ(used.size(), 3u);
  ASSERT_TRUE(used[0].ok()) << used[0].status();
  ASSERT_TRUE(used[1].ok()) << used[1].status();
  // Clock ticks are 10 ms, and the start sample may come a moment after the spin began.
  EXPECT_GE(*used[0], spun - 0.03);
  EXPECT_NEAR(*used[0], *used[1], 0.02);
  EXPECT_EQ(used[2].status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace genailab
