#include "eval/wilcoxon_rank_sum.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(WilcoxonRankSumTest, CompletelySeparatedSamples) {
  // a = {1,2,3} below b = {4,5,6}: U = 0, z = -4.5 / sqrt(5.25), p = 0.0495346 (scipy mannwhitneyu,
  // use_continuity=False, method="asymptotic").
  absl::StatusOr<RankSumResult> result = WilcoxonRankSum({1, 2, 3}, {4, 5, 6});
  ASSERT_THAT(result, IsOk());
  EXPECT_DOUBLE_EQ(result->u, 0.0);
  EXPECT_NEAR(result->z, -4.5 / std::sqrt(5.25), 1e-12);
  EXPECT_NEAR(result->p_value, 0.049534613435626706, 1e-9);
  // Swapping the samples flips the sign only.
  absl::StatusOr<RankSumResult> swapped = WilcoxonRankSum({4, 5, 6}, {1, 2, 3});
  ASSERT_THAT(swapped, IsOk());
  EXPECT_DOUBLE_EQ(swapped->u, 9.0);
  EXPECT_NEAR(swapped->z, -result->z, 1e-12);
}

TEST(WilcoxonRankSumTest, TiesGetAverageRanksAndTheTieCorrection) {
  // Ranks of a: 1, 3, 3, 8, 9 -> U = 24 - 15 = 9; scipy gives p = 0.802419309657957.
  absl::StatusOr<RankSumResult> result = WilcoxonRankSum({1, 2, 2, 5, 7}, {2, 3, 3, 4});
  ASSERT_THAT(result, IsOk());
  EXPECT_DOUBLE_EQ(result->u, 9.0);
  EXPECT_NEAR(result->p_value, 0.802419309657957, 1e-9);
}

TEST(WilcoxonRankSumTest, AllTiedGivesZeroAndRejectsEmptySamples) {
  absl::StatusOr<RankSumResult> tied = WilcoxonRankSum({1, 1}, {1, 1, 1});
  ASSERT_THAT(tied, IsOk());
  EXPECT_EQ(tied->z, 0.0);
  EXPECT_EQ(tied->p_value, 1.0);
  EXPECT_THAT(WilcoxonRankSum({}, {1}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a is empty")));
}

TEST(TopGenesByRankSumTest, RanksTheRespondingGenesFirst) {
  // Gene 2 responds strongly (up), gene 0 weakly (down, with overlap), gene 1 not at all.
  const DenseMatrix perturbed = MatrixOf({{0.5, 1, 9}, {1.5, 2, 8}, {0.2, 3, 7}, {1.1, 4, 9.5}});
  const DenseMatrix control = MatrixOf({{1, 1, 0}, {2, 2, 1}, {1.2, 3, 2}, {1.6, 4, 1.5}});
  absl::StatusOr<std::vector<int64_t>> top = TopGenesByRankSum(perturbed, control, 2);
  ASSERT_THAT(top, IsOk());
  EXPECT_THAT(*top, ElementsAre(2, 0));
  EXPECT_THAT(TopGenesByRankSum(perturbed, MatrixOf({{1, 2}}), 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("control has 2")));
}

}  // namespace
}  // namespace genailab
