#include "eval/likelihood_evaluation.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "models/vae_training.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Poisson counts of 6 genes; cell type A expresses the first half highly, B the second.
AnnData CountCells(int64_t cells) {
  std::mt19937 rng(5);
  AnnData data;
  data.x = DenseMatrix(cells, 6);
  for (int64_t i = 0; i < cells; ++i) {
    const bool b = i % 2 == 1;
    for (int64_t j = 0; j < 6; ++j) {
      std::poisson_distribution<int> poisson((j < 3) != b ? 20.0 : 2.0);
      data.x.at(i, j) = static_cast<float>(poisson(rng));
    }
    data.obs_names.push_back("c" + std::to_string(i));
    data.obs["cell_type"].push_back(b ? "B" : "A");
  }
  data.var_names = {"g0", "g1", "g2", "g3", "g4", "g5"};
  return data;
}

ModelManifest CountManifest() {
  ModelManifest manifest;
  manifest.name = "counts";
  manifest.model_type = "cvae";
  manifest.likelihood = "negative_binomial";
  manifest.latent_dim = 2;
  manifest.hidden_dims = {8};
  manifest.covariate_embedding_dim = 2;
  manifest.gene_names = {"g5", "g4", "g3", "g2", "g1", "g0"};  // reversed: ToModelSpace must reorder
  manifest.covariates = {{"cell_type", {"A", "B"}}};
  manifest.preprocessing.input_space = "counts";
  manifest.preprocessing.normalize_total = 100.0;
  manifest.preprocessing.log1p = true;
  return manifest;
}

TEST(ToModelSpaceTest, ReordersGenesPreprocessesAndCodesCovariates) {
  const AnnData cells = CountCells(4);
  absl::StatusOr<ModelSpaceCells> input = ToModelSpace(CountManifest(), cells);
  ASSERT_THAT(input, IsOk());
  EXPECT_EQ(input->counts.at(1, 0), cells.x.at(1, 5));  // raw counts, model gene order
  double total = 0.0;
  for (int64_t j = 0; j < 6; ++j) total += std::expm1(input->x.at(1, j));
  EXPECT_NEAR(total, 100.0, 1e-3);  // normalize_total then log1p
  ASSERT_EQ(input->covariates.size(), 1u);
  EXPECT_THAT(input->covariates[0], ElementsAre(0, 1, 0, 1));
}

TEST(ToModelSpaceTest, NamesMissingGenesAndUnknownValues) {
  AnnData cells = CountCells(2);
  cells.obs["cell_type"][1] = "T";
  EXPECT_THAT(ToModelSpace(CountManifest(), cells),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("value 'T' at cell 1")));
  cells.var_names[0] = "other";
  EXPECT_THAT(ToModelSpace(CountManifest(), cells),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lack the model gene 'g0'")));
}

TEST(EvaluateCheckpointBoundsTest, BoundsOfASavedModel) {
  const AnnData cells = CountCells(64);
  ModelManifest manifest = CountManifest();
  absl::StatusOr<ModelSpaceCells> input = ToModelSpace(manifest, cells);
  ASSERT_THAT(input, IsOk());
  TrainingData train{input->x, input->counts, input->covariates, {}};
  VaeTrainingOptions options;
  options.epochs = 3;
  options.batch_size = 32;
  options.intra_op_threads = 1;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainVae(manifest, train, TrainingData(), options, nullptr);
  ASSERT_THAT(trained, IsOk());
  const std::string folder = std::string(std::getenv("TEST_TMPDIR")) + "/counts_v1";
  std::filesystem::create_directories(folder);
  ASSERT_THAT((*trained)->Save(folder, 1), IsOk());

  LikelihoodBoundOptions bound_options;
  bound_options.samples = 16;
  absl::StatusOr<LikelihoodBounds> bounds = EvaluateCheckpointBounds(folder, "cpu", cells, bound_options);
  ASSERT_THAT(bounds, IsOk());
  EXPECT_EQ(bounds->cells, 64);
  EXPECT_TRUE(std::isfinite(bounds->elbo));
  EXPECT_GT(bounds->iwae, bounds->elbo);
  bound_options.samples = 1;
  absl::StatusOr<LikelihoodBounds> one = EvaluateCheckpointBounds(folder, "cpu", cells, bound_options);
  ASSERT_THAT(one, IsOk());
  EXPECT_NEAR(one->iwae, one->elbo, 1e-4 * std::fabs(one->elbo));
  EXPECT_THAT(EvaluateCheckpointBounds(folder + "/missing", "cpu", cells, bound_options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

}  // namespace
}  // namespace genailab
