#include "eval/mean_expression_r2.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(SquaredPearsonTest, PerfectLinearRelationsScoreOne) {
  EXPECT_NEAR(*SquaredPearson({1, 2, 3, 4}, {3, 5, 7, 9}), 1.0, 1e-12);
  EXPECT_NEAR(*SquaredPearson({1, 2, 3, 4}, {-1, -2, -3, -4}), 1.0, 1e-12);  // squared: sign does not matter
}

TEST(SquaredPearsonTest, KnownValue) {
  // x = {1,2,3}, y = {1,3,2}: cov = 1, var_x = var_y = 2 -> r = 0.5, r^2 = 0.25.
  EXPECT_NEAR(*SquaredPearson({1, 2, 3}, {1, 3, 2}), 0.25, 1e-12);
}

TEST(SquaredPearsonTest, RejectsUndefinedCases) {
  EXPECT_THAT(SquaredPearson({1, 1, 1}, {1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("constant")));
  EXPECT_THAT(SquaredPearson({1, 2}, {1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sizes differ")));
  EXPECT_THAT(SquaredPearson({1}, {1}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 2")));
}

TEST(ComputeMeanExpressionR2Test, PerfectPredictionScoresOneEverywhere) {
  const DenseMatrix control = MatrixOf({{1, 1, 1, 1}, {1.2, 0.8, 1.1, 0.9}, {0.9, 1.1, 1.0, 1.05}});
  const DenseMatrix real = MatrixOf({{3, 1, 0, 1.5}, {3.2, 0.9, 0.1, 1.4}, {2.8, 1.05, 0.05, 1.6}});
  absl::StatusOr<MeanExpressionR2> result = ComputeMeanExpressionR2(real, real, control, 2);
  ASSERT_THAT(result, IsOk());
  EXPECT_NEAR(result->r2_all_genes, 1.0, 1e-12);
  EXPECT_NEAR(result->delta_r2_all_genes, 1.0, 1e-12);
  EXPECT_NEAR(result->r2_top_genes, 1.0, 1e-12);
  EXPECT_NEAR(result->delta_r2_top_genes, 1.0, 1e-12);
  EXPECT_EQ(result->top_genes.size(), 2u);
}

TEST(ComputeMeanExpressionR2Test, NoChangePredictionHasUndefinedResponseR2) {
  // Predicting the control cells themselves: the predicted response is 0 everywhere (constant).
  const DenseMatrix control = MatrixOf({{1, 2, 3}, {1.1, 2.1, 2.9}});
  const DenseMatrix real = MatrixOf({{2, 2, 1}, {2.2, 1.9, 1.1}});
  absl::StatusOr<MeanExpressionR2> result = ComputeMeanExpressionR2(real, control, control, 3);
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(std::isnan(result->delta_r2_all_genes));
}

TEST(ComputeMeanExpressionR2Test, WithoutControlOnlyAllGenesR2) {
  const DenseMatrix real = MatrixOf({{1, 2, 3}});
  const DenseMatrix generated = MatrixOf({{2, 4, 6}});
  absl::StatusOr<MeanExpressionR2> result = ComputeMeanExpressionR2(real, generated, DenseMatrix(0, 3), 2);
  ASSERT_THAT(result, IsOk());
  EXPECT_NEAR(result->r2_all_genes, 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(result->r2_top_genes));
  EXPECT_TRUE(result->top_genes.empty());
  EXPECT_THAT(ComputeMeanExpressionR2(real, MatrixOf({{1, 2}}), DenseMatrix(0, 3), 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generated has 2")));
}

}  // namespace
}  // namespace genailab
