#include "eval/knn_metrics.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "eval/test_matrices.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(StratifiedFoldsTest, EveryFoldGetsItsShareOfEveryLabel) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 30; ++i) labels.push_back(i < 20 ? 0 : 1);
  absl::StatusOr<std::vector<int>> folds = StratifiedFolds(labels, 5, 3);
  ASSERT_THAT(folds, IsOk());
  std::map<std::pair<int, int64_t>, int> counts;
  for (size_t i = 0; i < labels.size(); ++i) ++counts[{(*folds)[i], labels[i]}];
  for (int fold = 0; fold < 5; ++fold) {
    EXPECT_EQ((counts[{fold, 0}]), 4) << fold;
    EXPECT_EQ((counts[{fold, 1}]), 2) << fold;
  }
  EXPECT_THAT(StratifiedFolds(labels, 1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("folds must be >= 2")));
}

TEST(RocAucTest, KnownValues) {
  EXPECT_NEAR(*RocAuc({0.1, 0.2, 0.8, 0.9}, {false, false, true, true}), 1.0, 1e-12);
  EXPECT_NEAR(*RocAuc({0.1, 0.2, 0.8, 0.9}, {true, true, false, false}), 0.0, 1e-12);
  // One of the four positive/negative pairs is misordered: 3/4. Ties count half.
  EXPECT_NEAR(*RocAuc({0.1, 0.5, 0.4, 0.9}, {false, false, true, true}), 0.75, 1e-12);
  EXPECT_NEAR(*RocAuc({0.5, 0.5}, {false, true}), 0.5, 1e-12);
  EXPECT_THAT(RocAuc({0.1}, {true}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no negative")));
}

TEST(RealVsGeneratedAucTest, SameDistributionIsNearHalf) {
  const DenseMatrix real = GaussianSample(300, {0, 0, 0}, 1.0f, 1);
  const DenseMatrix generated = GaussianSample(300, {0, 0, 0}, 1.0f, 2);
  absl::StatusOr<double> auc = RealVsGeneratedAuc(real, generated, {.k = 10, .folds = 5, .seed = 0});
  ASSERT_THAT(auc, IsOk());
  EXPECT_NEAR(*auc, 0.5, 0.07);
}

TEST(RealVsGeneratedAucTest, WellSeparatedIsOne) {
  const DenseMatrix real = GaussianSample(100, {0, 0}, 1.0f, 1);
  const DenseMatrix generated = GaussianSample(100, {20, 0}, 1.0f, 2);
  absl::StatusOr<double> auc = RealVsGeneratedAuc(real, generated);
  ASSERT_THAT(auc, IsOk());
  EXPECT_NEAR(*auc, 1.0, 1e-12);
}

TEST(RealVsGeneratedAucTest, CopiesOfTheRealCellsScoreBelowHalf) {
  // Each cell's twin is in the other class: neighbours vote for the wrong class (memorization signal).
  const DenseMatrix real = GaussianSample(100, {0, 0}, 1.0f, 1);
  absl::StatusOr<double> auc = RealVsGeneratedAuc(real, real, {.k = 5, .folds = 5, .seed = 0});
  ASSERT_THAT(auc, IsOk());
  EXPECT_LT(*auc, 0.3);
}

TEST(RealVsGeneratedAucTest, RejectsTooFewCells) {
  EXPECT_THAT(RealVsGeneratedAuc(MatrixOf({{0}, {1}}), MatrixOf({{0}, {1}, {2}, {3}, {4}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least folds (5) cells, got 2")));
}

TEST(KnnLabelAccuracyTest, SeparatedClustersAreClassifiedPerfectly) {
  DenseMatrix latent(90, 2);
  std::vector<std::string> labels;
  const DenseMatrix noise = GaussianSample(90, {0, 0}, 0.5f, 4);
  for (int i = 0; i < 90; ++i) {
    const int cluster = i % 3;
    latent.at(i, 0) = 10.0f * cluster + noise.at(i, 0);
    latent.at(i, 1) = noise.at(i, 1);
    labels.push_back(cluster == 0 ? "B" : cluster == 1 ? "T" : "NK");
  }
  absl::StatusOr<double> accuracy = KnnLabelAccuracy(latent, labels);
  ASSERT_THAT(accuracy, IsOk());
  EXPECT_DOUBLE_EQ(*accuracy, 1.0);
}

TEST(KnnLabelAccuracyTest, LabelsIndependentOfTheLatentScoreNearChance) {
  const DenseMatrix latent = GaussianSample(400, {0, 0}, 1.0f, 5);
  std::vector<std::string> labels;
  for (int i = 0; i < 400; ++i) labels.push_back(i % 2 == 0 ? "a" : "b");
  absl::StatusOr<double> accuracy = KnnLabelAccuracy(latent, labels, {.k = 7, .folds = 5, .seed = 1});
  ASSERT_THAT(accuracy, IsOk());
  EXPECT_NEAR(*accuracy, 0.5, 0.08);
  EXPECT_THAT(KnnLabelAccuracy(latent, {"a"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 labels for 400 cells")));
}

}  // namespace
}  // namespace genailab
