#include "models/diffusion/noise_process.h"

#include <cmath>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

NoiseProcess MakeProcess(const std::string& sde, const std::string& schedule) {
  NoiseProcessOptions options;
  options.sde = sde;
  options.schedule = schedule;
  options.sigma_max = 5.0;
  absl::StatusOr<NoiseProcess> process = NoiseProcess::Create(options);
  EXPECT_TRUE(process.ok()) << process.status();
  return *process;
}

// Simulates the forward SDE dx = f(t) x dt + g(t) dW from x_0 by Euler-Maruyama on a fine grid and
// returns the sample mean and variance of x_t.
void SimulateForward(const NoiseProcess& process, double x0, double t_end, double* mean, double* variance) {
  constexpr int kPaths = 20000;
  constexpr int kSteps = 400;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  const double dt = t_end / kSteps;
  double sum = 0, sum_squares = 0;
  for (int path = 0; path < kPaths; ++path) {
    double x = x0;
    for (int step = 0; step < kSteps; ++step) {
      const double t = (step + 0.5) * dt;  // midpoint coefficients: second-order in the mean
      x += process.DriftCoefficient(t) * x * dt + std::sqrt(process.DiffusionSquared(t) * dt) * normal(rng);
    }
    sum += x;
    sum_squares += x * x;
  }
  *mean = sum / kPaths;
  *variance = sum_squares / kPaths - (*mean) * (*mean);
}

class ForwardMarginalTest : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ForwardMarginalTest, SimulatedSdeMatchesClosedFormMeanAndVariance) {
  const NoiseProcess process = MakeProcess(GetParam().first, GetParam().second);
  const double x0 = 1.5;
  for (double t : {0.1, 0.5, 0.9}) {
    double mean = 0, variance = 0;
    SimulateForward(process, x0, t, &mean, &variance);
    const double a = process.SignalScale(t);
    const double s = process.NoiseScale(t);
    EXPECT_NEAR(mean, a * x0, 0.03 + 0.02 * s) << "t=" << t;
    EXPECT_NEAR(variance, s * s, 0.04 * s * s + 1e-3) << "t=" << t;
  }
}

INSTANTIATE_TEST_SUITE_P(AllProcesses, ForwardMarginalTest,
                         ::testing::Values(std::make_pair("vp", "linear"), std::make_pair("vp", "cosine"),
                                           std::make_pair("ve", "linear")));

TEST(NoiseProcessTest, BoundaryValues) {
  for (const auto& [sde, schedule] : {std::make_pair("vp", "linear"), std::make_pair("vp", "cosine")}) {
    const NoiseProcess process = MakeProcess(sde, schedule);
    EXPECT_NEAR(process.SignalScale(0), 1.0, 1e-12);
    EXPECT_NEAR(process.NoiseScale(0), 0.0, 1e-6);
    EXPECT_LT(process.SignalScale(1), 0.02) << schedule;
    for (double t : {0.0, 0.3, 0.7, 1.0}) {
      const double a = process.SignalScale(t), s = process.NoiseScale(t);
      EXPECT_NEAR(a * a + s * s, 1.0, 1e-9) << schedule << " t=" << t;
    }
  }
  const NoiseProcess ve = MakeProcess("ve", "linear");
  EXPECT_EQ(ve.SignalScale(0.4), 1.0);
  EXPECT_EQ(ve.NoiseScale(0), 0.0);
  EXPECT_NEAR(ve.PriorStd(), std::sqrt(25.0 - 1e-4), 1e-9);
}

TEST(NoiseProcessTest, RejectsUnknownNames) {
  NoiseProcessOptions options;
  options.sde = "sub_vp";
  EXPECT_THAT(NoiseProcess::Create(options).status().message(), HasSubstr("sde 'sub_vp'"));
  EXPECT_EQ(NoiseProcess::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.sde = "ve";
  options.schedule = "cosine";
  EXPECT_THAT(NoiseProcess::Create(options).status().message(), HasSubstr("VE-SDE"));
  options.sde = "vp";
  options.schedule = "quadratic";
  EXPECT_THAT(NoiseProcess::Create(options).status().message(), HasSubstr("noise_schedule 'quadratic'"));
}

}  // namespace
}  // namespace genailab
