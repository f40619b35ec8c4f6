#include "eval/distribution_distances.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MaximumMeanDiscrepancyTest, IdenticalSetsScoreExactlyZero) {
  const DenseMatrix x = GaussianSample(50, {0, 1, 2}, 1.0f, 3);
  absl::StatusOr<MmdResult> mmd = MaximumMeanDiscrepancy(x, x);
  ASSERT_THAT(mmd, IsOk());
  EXPECT_NEAR(mmd->mmd_squared, 0.0, 1e-12);
  EXPECT_EQ(mmd->bandwidths.size(), 5u);
}

TEST(MaximumMeanDiscrepancyTest, TwoPointsMatchTheClosedForm) {
  // k(0,0) + k(1,1) - 2 k(0,1) = 2 - 2 exp(-1 / (2 s^2)); with bandwidths {1, 2} the kernel is their mean.
  absl::StatusOr<MmdResult> mmd = MaximumMeanDiscrepancy(MatrixOf({{0}}), MatrixOf({{1}}), {1.0, 2.0});
  ASSERT_THAT(mmd, IsOk());
  const double expected = 2.0 - (std::exp(-0.5) + std::exp(-1.0 / 8.0));
  EXPECT_NEAR(mmd->mmd_squared, expected, 1e-9);
  EXPECT_THAT(mmd->bandwidths, ElementsAre(1.0, 2.0));
}

TEST(MaximumMeanDiscrepancyTest, GrowsWithTheMeanShift) {
  const DenseMatrix x = GaussianSample(100, {0, 0}, 1.0f, 1);
  const DenseMatrix same = GaussianSample(100, {0, 0}, 1.0f, 2);
  const DenseMatrix shifted = GaussianSample(100, {3, 0}, 1.0f, 2);
  const std::vector<double> bandwidths = {0.5, 1.0, 2.0};
  const double near = MaximumMeanDiscrepancy(x, same, bandwidths)->mmd_squared;
  const double far = MaximumMeanDiscrepancy(x, shifted, bandwidths)->mmd_squared;
  EXPECT_LT(near, 0.05);
  EXPECT_GT(far, 10 * near);
}

TEST(MaximumMeanDiscrepancyTest, RejectsBadInput) {
  EXPECT_THAT(MaximumMeanDiscrepancy(DenseMatrix(0, 2), MatrixOf({{1, 2}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x: no cells")));
  EXPECT_THAT(MaximumMeanDiscrepancy(MatrixOf({{1}}), MatrixOf({{1}}), {1.0, 0.0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bandwidths[1] must be > 0")));
}

TEST(EnergyDistanceTest, MatchesClosedFormsAndIsZeroForIdenticalSets) {
  // Point masses at 0 and 1: 2 * 1 - 0 - 0.
  absl::StatusOr<double> point_masses = EnergyDistance(MatrixOf({{0}, {0}}), MatrixOf({{1}, {1}}));
  ASSERT_THAT(point_masses, IsOk());
  EXPECT_NEAR(*point_masses, 2.0, 1e-12);
  // x = {0}, y = {0, 2}: 2 * 1 - 0 - (0 + 2 + 2 + 0) / 4 = 1.
  absl::StatusOr<double> uneven = EnergyDistance(MatrixOf({{0}}), MatrixOf({{0}, {2}}));
  ASSERT_THAT(uneven, IsOk());
  EXPECT_NEAR(*uneven, 1.0, 1e-12);
  const DenseMatrix x = GaussianSample(40, {1, 2}, 1.0f, 9);
  absl::StatusOr<double> identical = EnergyDistance(x, x);
  ASSERT_THAT(identical, IsOk());
  EXPECT_NEAR(*identical, 0.0, 1e-12);
}

TEST(EnergyDistanceTest, RejectsMismatchedColumns) {
  EXPECT_THAT(EnergyDistance(MatrixOf({{0}}), MatrixOf({{0, 1}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column counts differ")));
}

}  // namespace
}  // namespace genailab
