#include "models/interpolation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EvenlySpacedTest, IncludesBothEnds) {
  EXPECT_THAT(*EvenlySpaced(0.0, 1.0, 5), ElementsAre(0.0, 0.25, 0.5, 0.75, 1.0));
  EXPECT_THAT(*EvenlySpaced(-3.0, 3.0, 3), ElementsAre(-3.0, 0.0, 3.0));
  EXPECT_THAT(*EvenlySpaced(2.0, 5.0, 1), ElementsAre(2.0));
  EXPECT_THAT(EvenlySpaced(0.0, 1.0, 0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steps")));
}

TEST(LinearPathTest, InterpolatesEachDimension) {
  absl::StatusOr<DenseMatrix> path = LinearPath({0.0f, 2.0f}, {4.0f, -2.0f}, {0.0, 0.25, 1.0});
  ASSERT_THAT(path, IsOk());
  EXPECT_THAT(path->values, ElementsAre(0.0f, 2.0f, 1.0f, 1.0f, 4.0f, -2.0f));
  EXPECT_THAT(LinearPath({0.0f}, {1.0f, 2.0f}, {0.5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("differ in size")));
}

TEST(AxisTraversalTest, VariesOnlyTheAxis) {
  absl::StatusOr<DenseMatrix> points = AxisTraversal({1.0f, 2.0f, 3.0f}, 1, {-1.0, 0.0, 1.0});
  ASSERT_THAT(points, IsOk());
  EXPECT_THAT(points->values, ElementsAre(1.0f, -1.0f, 3.0f, 1.0f, 0.0f, 3.0f, 1.0f, 1.0f, 3.0f));
  EXPECT_THAT(AxisTraversal({1.0f, 2.0f}, 2, {0.0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("axis: must be in [0, 2), got 2")));
}

TEST(CovariateBlendTest, BlendsOneCovariateAndKeepsTheOthersOneHot) {
  // Covariate 0 (3 values) blends from code 0 to code 2; covariate 1 (2 values) stays at code 1.
  absl::StatusOr<CovariateWeights> weights = CovariateBlend({3, 2}, {0, 1}, 0, 2, {0.0, 0.5, 1.0});
  ASSERT_THAT(weights, IsOk());
  ASSERT_EQ(weights->size(), 2u);
  EXPECT_THAT((*weights)[0].values, ElementsAre(1.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.5f, 0.0f, 0.0f, 1.0f));
  EXPECT_THAT((*weights)[1].values, ElementsAre(0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f));
  // Blending a value with itself is one-hot throughout.
  absl::StatusOr<CovariateWeights> same = CovariateBlend({2}, {1}, 0, 1, {0.3});
  ASSERT_THAT(same, IsOk());
  EXPECT_THAT((*same)[0].values, ElementsAre(0.0f, 1.0f));
  EXPECT_THAT(CovariateBlend({3, 2}, {0, 2}, 0, 1, {0.5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("codes[1]: 2 out of range [0, 2)")));
  EXPECT_THAT(CovariateBlend({3}, {0}, 0, 3, {0.5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("to_code: 3 out of range")));
}

}  // namespace
}  // namespace genailab
