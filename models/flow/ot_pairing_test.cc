#include "models/flow/ot_pairing.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

double TotalCost(const std::vector<double>& cost, const std::vector<int64_t>& assignment, int64_t n) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += cost[i * n + assignment[i]];
  return total;
}

TEST(OtPairingTest, MatchesBruteForceOnRandomCosts) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uniform(0.0, 10.0);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t n = 1 + trial % 7;
    std::vector<double> cost(n * n);
    for (double& c : cost) c = uniform(rng);
    absl::StatusOr<std::vector<int64_t>> assignment = MinimumCostAssignment(cost, n);
    ASSERT_TRUE(assignment.ok()) << assignment.status();
    std::vector<int64_t> sorted = *assignment;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> identity(n);
    std::iota(identity.begin(), identity.end(), 0);
    EXPECT_EQ(sorted, identity) << "not a permutation";
    double best = 1e300;
    std::vector<int64_t> permutation = identity;
    do {
      best = std::min(best, TotalCost(cost, permutation, n));
    } while (std::next_permutation(permutation.begin(), permutation.end()));
    EXPECT_NEAR(TotalCost(cost, *assignment, n), best, 1e-9) << "n=" << n;
  }
}

TEST(OtPairingTest, PairsShiftedPointsWithTheirTranslates) {
  // Targets are the sources shifted by a small common offset, listed in reverse: the W2-optimal pairing
  // is each source with its own translate.
  const std::vector<float> source = {0, 0, 10, 0, 0, 10, 10, 10};
  const std::vector<float> target = {10.5, 10, 0.5, 10, 10.5, 0, 0.5, 0};
  absl::StatusOr<std::vector<int64_t>> assignment =
      MinimumCostAssignment(SquaredDistanceCost(source, target, 4, 2), 4);
  ASSERT_TRUE(assignment.ok());
  EXPECT_THAT(*assignment, ElementsAre(3, 2, 1, 0));
}

TEST(OtPairingTest, RejectsMalformedCost) {
  EXPECT_THAT(MinimumCostAssignment({1, 2, 3}, 2).status().message(), HasSubstr("expected 2 x 2"));
  EXPECT_EQ(MinimumCostAssignment({1, 2, 3, 1.0 / 0.0}, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
