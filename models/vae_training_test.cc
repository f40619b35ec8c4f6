#include "models/vae_training.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGenes = 12;

// Two clusters of cells: "ctrl" cells express the first half of the genes, "stim" cells the second half.
// Counts are Poisson; x = log1p(counts).
TrainingData TwoClusters(int64_t cells, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  TrainingData data;
  data.x = DenseMatrix(cells, kGenes);
  data.counts = DenseMatrix(cells, kGenes);
  data.covariates.resize(2);
  for (int64_t i = 0; i < cells; ++i) {
    const bool stim = i % 2 == 1;
    for (int64_t j = 0; j < kGenes; ++j) {
      const bool high = (j < kGenes / 2) != stim;
      std::poisson_distribution<int> poisson(high ? 20.0 : 2.0);
      const float count = static_cast<float>(poisson(rng));
      data.counts.at(i, j) = count;
      data.x.at(i, j) = std::log1p(count);
    }
    data.covariates[0].push_back(stim ? 1 : 0);
    data.covariates[1].push_back(i % 3);
    data.conditions.push_back(stim ? "stim" : "ctrl");
  }
  return data;
}

ModelManifest Manifest(const std::string& model_type, const std::string& likelihood) {
  ModelManifest manifest;
  manifest.name = "clusters";
  manifest.model_type = model_type;
  manifest.likelihood = likelihood;
  manifest.latent_dim = 2;
  manifest.hidden_dims = {16};
  manifest.covariate_embedding_dim = 2;
  for (int64_t j = 0; j < kGenes; ++j) manifest.gene_names.push_back("gene" + std::to_string(j));
  manifest.covariates = {{"condition", {"ctrl", "stim"}}, {"batch", {"b1", "b2", "b3"}}};
  manifest.condition_key = "condition";
  return manifest;
}

VaeTrainingOptions FastOptions() {
  VaeTrainingOptions options;
  options.epochs = 12;
  options.batch_size = 32;
  options.learning_rate = 1e-2;
  options.kl_warmup_epochs = 2;
  options.seed = 3;
  options.intra_op_threads = 1;
  return options;
}

TEST(TrainVaeTest, GaussianCvaeLearnsAndFillsTheManifest) {
  const TrainingData train = TwoClusters(192, 1);
  const TrainingData validation = TwoClusters(32, 2);
  std::vector<EpochReport> reports;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("cvae", "gaussian"), train, validation, FastOptions(),
               [&reports](const EpochReport& report) { reports.push_back(report); });
  ASSERT_TRUE(trained.ok()) << trained.status();

  ASSERT_EQ(reports.size(), 12u);
  EXPECT_EQ(reports.front().epoch, 1);
  EXPECT_EQ(reports.back().epoch, 12);
  EXPECT_LT(reports.back().loss, reports.front().loss);
  EXPECT_LT(reports.back().reconstruction, reports.front().reconstruction);
  EXPECT_TRUE(std::isfinite(reports.back().validation_loss));
  EXPECT_GT(reports.back().cells_per_second, 0.0);

  const ModelManifest& manifest = (*trained)->model().manifest();
  ASSERT_EQ(manifest.latent_condition_means.size(), 2u);
  EXPECT_EQ(manifest.latent_condition_means[0].condition, "ctrl");
  EXPECT_EQ(manifest.latent_condition_means[0].n_cells, 96);
  EXPECT_EQ(manifest.latent_condition_means[1].mean.size(), 2u);
  EXPECT_EQ(manifest.median_library_size, 0.0);
  EXPECT_DOUBLE_EQ(manifest.training_metrics.at("loss"), reports.back().loss);
  EXPECT_DOUBLE_EQ(manifest.training_metrics.at("validation_loss"), reports.back().validation_loss);
  EXPECT_EQ(manifest.hyperparameters.at("epochs"), "12");
  EXPECT_FALSE(manifest.created_at.empty());

  // Generate: same seed, same cells; another seed, other cells.
  const CovariateCodes codes = {{0, 1, 1}, {0, 1, 2}};
  absl::StatusOr<DenseMatrix> first = (*trained)->model().Generate(3, codes, 42, 0.0f, false);
  absl::StatusOr<DenseMatrix> again = (*trained)->model().Generate(3, codes, 42, 0.0f, false);
  absl::StatusOr<DenseMatrix> other = (*trained)->model().Generate(3, codes, 43, 0.0f, false);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(first->values, again->values);
  EXPECT_NE(first->values, other->values);
}

TEST(TrainVaeTest, NegativeBinomialVaeRecordsMedianLibrarySize) {
  TrainingData train = TwoClusters(64, 5);
  train.covariates.clear();
  double sum0 = 0, sum1 = 0;
  for (int64_t j = 0; j < kGenes; ++j) {
    sum0 += train.counts.at(0, j);
    sum1 += train.counts.at(1, j);
  }
  VaeTrainingOptions options = FastOptions();
  options.epochs = 3;
  std::vector<EpochReport> reports;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("vae", "negative_binomial"), train, TrainingData(), options,
               [&reports](const EpochReport& report) { reports.push_back(report); });
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_TRUE(std::isnan(reports.back().validation_loss));
  EXPECT_LT(reports.back().loss, reports.front().loss);

  // Cells alternate between the clusters; their library sizes straddle the median.
  const ModelManifest& manifest = (*trained)->model().manifest();
  EXPECT_GT(manifest.median_library_size, 0.5 * std::min(sum0, sum1));
  EXPECT_LT(manifest.median_library_size, 2.0 * std::max(sum0, sum1));
  EXPECT_EQ(manifest.training_metrics.count("validation_loss"), 0u);

  absl::StatusOr<DenseMatrix> counts = (*trained)->model().Generate(4, {}, 1, 0.0f, true);
  ASSERT_TRUE(counts.ok()) << counts.status();
  for (float v : counts->values) EXPECT_EQ(v, std::floor(v));
}

TEST(TrainVaeTest, RejectsInconsistentData) {
  const VaeTrainingOptions options = FastOptions();
  TrainingData train = TwoClusters(16, 1);

  TrainingData wrong_genes = train;
  wrong_genes.x = DenseMatrix(16, kGenes - 1);
  absl::StatusOr<std::unique_ptr<TrainedVae>> result =
      TrainVae(Manifest("cvae", "gaussian"), wrong_genes, TrainingData(), options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("train.x: has 11 columns"));

  TrainingData missing_covariate = train;
  missing_covariate.covariates.pop_back();
  result = TrainVae(Manifest("cvae", "gaussian"), missing_covariate, TrainingData(), options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("train.covariates: expected 2 covariate column(s)"));

  TrainingData no_counts = train;
  no_counts.counts = DenseMatrix();
  result = TrainVae(Manifest("cvae", "negative_binomial"), no_counts, TrainingData(), options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("train.counts"));

  TrainingData bad_validation = train;
  bad_validation.conditions.pop_back();
  result = TrainVae(Manifest("cvae", "gaussian"), train, bad_validation, options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("validation.conditions"));

  VaeTrainingOptions no_epochs = options;
  no_epochs.epochs = 0;
  result = TrainVae(Manifest("cvae", "gaussian"), train, TrainingData(), no_epochs, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("epochs"));

  VaeTrainingOptions on_missing_gpu = options;
  on_missing_gpu.device = "cuda:64";
  result = TrainVae(Manifest("cvae", "gaussian"), train, TrainingData(), on_missing_gpu, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace genailab
