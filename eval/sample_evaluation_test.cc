#include "eval/sample_evaluation.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(EvaluateSamplesTest, IdenticalSetsHaveZeroDistancesAndPerfectR2) {
  const DenseMatrix control = GaussianSample(60, {1, 1, 1, 1}, 0.3f, 1);
  const DenseMatrix real = GaussianSample(60, {3, 1, 0.5, 1}, 0.3f, 2);
  absl::StatusOr<SampleEvaluation> evaluation = EvaluateSamples(real, real, control, {.top_k_genes = 2});
  ASSERT_THAT(evaluation, IsOk());
  EXPECT_NEAR(evaluation->r2.r2_all_genes, 1.0, 1e-9);
  EXPECT_NEAR(evaluation->r2.delta_r2_top_genes, 1.0, 1e-9);
  EXPECT_NEAR(evaluation->mmd_squared, 0.0, 1e-9);
  EXPECT_NEAR(evaluation->energy_distance, 0.0, 1e-9);
  const nlohmann::json json = SampleEvaluationToJson(*evaluation, {"g0", "g1", "g2", "g3"});
  EXPECT_EQ(json["r2"]["top_genes"][0], "g0");  // the 2-unit shift is the strongest response
  EXPECT_EQ(json["cells"]["control"], 60);
}

TEST(EvaluateSamplesTest, ShiftedSetsAreFarAndRecognized) {
  const DenseMatrix real = GaussianSample(80, {0, 0, 0}, 1.0f, 1);
  const DenseMatrix generated = GaussianSample(80, {10, 0, 0}, 1.0f, 2);
  absl::StatusOr<SampleEvaluation> evaluation = EvaluateSamples(real, generated, DenseMatrix(0, 3));
  ASSERT_THAT(evaluation, IsOk());
  EXPECT_GT(evaluation->energy_distance, 14.0);  // 2 E|X-Y| - 2 E|X-X'| ~ 2 * 10.2 - 2 * 2.26 ~ 15.9
  EXPECT_GT(evaluation->mmd_squared, 0.1);
  EXPECT_NEAR(evaluation->knn_auc, 1.0, 1e-12);
  const nlohmann::json json = SampleEvaluationToJson(*evaluation, {});
  EXPECT_TRUE(json["r2"]["mean_top_genes"].is_null());
}

TEST(EvaluateSamplesTest, RejectsNonFiniteValues) {
  DenseMatrix generated = GaussianSample(10, {0, 0}, 1.0f, 1);
  generated.at(3, 1) = std::nanf("");
  EXPECT_THAT(EvaluateSamples(GaussianSample(10, {0, 0}, 1.0f, 2), generated, DenseMatrix(0, 2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generated")));
}

}  // namespace
}  // namespace genailab
