#include "models/vae_training.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// Trains and saves into a fresh folder under TEST_TMPDIR; returns the weights' sha256 from the manifest.
std::string TrainAndHashWeights(const VaeTrainingOptions& options, const std::string& folder,
                                std::vector<EpochReport>* reports = nullptr) {
  const TrainingData train = TwoClusters(96, 1);
  const TrainingData validation = TwoClusters(16, 2);
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("cvae", "gaussian"), train, validation, options, [reports](const EpochReport& report) {
        if (reports != nullptr) reports->push_back(report);
      });
  EXPECT_TRUE(trained.ok()) << trained.status();
  if (!trained.ok()) return "";
  const std::string directory = std::string(std::getenv("TEST_TMPDIR")) + "/" + folder;
  std::filesystem::create_directories(directory);
  EXPECT_TRUE((*trained)->Save(directory, 1).ok());
  std::ifstream file(directory + "/manifest.json");
  std::stringstream json;
  json << file.rdbuf();
  return ModelManifest::FromJson(json.str()).value().weights_sha256;
}

TEST(TrainVaeTest, SameSeedGivesIdenticalWeightsAndAnotherSeedDoesNot) {
  VaeTrainingOptions options = FastOptions();
  options.epochs = 3;
  const std::string first = TrainAndHashWeights(options, "seed_a");
  const std::string again = TrainAndHashWeights(options, "seed_b");
  options.seed = 4;
  const std::string other = TrainAndHashWeights(options, "seed_c");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
}

TEST(TrainVaeTest, CancelledRunResumesFromItsCheckpointToTheSameWeights) {
  VaeTrainingOptions options = FastOptions();
  options.epochs = 5;
  options.lr_schedule = "cosine";
  const std::string uninterrupted = TrainAndHashWeights(options, "uninterrupted");

  options.checkpoint_path = std::string(std::getenv("TEST_TMPDIR")) + "/resume.ckpt";
  int epochs_done = 0;
  options.cancelled = [&epochs_done] { return epochs_done >= 2; };
  absl::StatusOr<std::unique_ptr<TrainedVae>> cancelled =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(96, 1), TwoClusters(16, 2), options,
               [&epochs_done](const EpochReport&) { ++epochs_done; });
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(cancelled.status().message(), HasSubstr("epoch 3"));
  ASSERT_TRUE(std::filesystem::exists(options.checkpoint_path));

  options.cancelled = nullptr;
  std::vector<EpochReport> reports;
  const std::string resumed = TrainAndHashWeights(options, "resumed", &reports);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports.front().epoch, 3);
  EXPECT_EQ(reports.front().resumed_from_epoch, 2);
  EXPECT_EQ(resumed, uninterrupted);
}

TEST(TrainVaeTest, CheckpointOfAnotherSeedIsRefused) {
  VaeTrainingOptions options = FastOptions();
  options.epochs = 1;
  options.checkpoint_path = std::string(std::getenv("TEST_TMPDIR")) + "/seeded.ckpt";
  ASSERT_FALSE(TrainAndHashWeights(options, "seeded").empty());
  options.seed = 99;
  absl::StatusOr<std::unique_ptr<TrainedVae>> result =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(96, 1), TwoClusters(16, 2), options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("written with seed 3"));
}

TEST(TrainVaeTest, OneProcessWithShardsMatchesTheShardedTrajectoryOfItsRanks) {
  // batch_shards changes how a step's randomness is drawn, not the objective: with one shard and with two
  // the runs differ, but both train.
  VaeTrainingOptions options = FastOptions();
  options.epochs = 2;
  options.batch_shards = 2;
  std::vector<EpochReport> reports;
  const std::string sharded = TrainAndHashWeights(options, "sharded", &reports);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_LT(reports.back().loss, reports.front().loss);
  options.batch_shards = 1;
  EXPECT_NE(TrainAndHashWeights(options, "unsharded"), sharded);
}

TEST(TrainVaeTest, EarlyStoppingEndsTrainingWhenValidationStopsImproving) {
  VaeTrainingOptions options = FastOptions();
  options.early_stopping_patience = 2;
  options.early_stopping_min_delta = 1e9;  // no epoch can improve by this much
  std::vector<EpochReport> reports;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(96, 1), TwoClusters(16, 2), options,
               [&reports](const EpochReport& report) { reports.push_back(report); });
  ASSERT_TRUE(trained.ok()) << trained.status();
  // Epoch 1 sets the best loss; epochs 2 and 3 fail to improve on it.
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_FALSE(reports[1].stopped_early);
  EXPECT_TRUE(reports[2].stopped_early);
  EXPECT_EQ((*trained)->model().manifest().training_metrics.at("epochs"), 3.0);
  EXPECT_EQ((*trained)->model().manifest().training_metrics.at("stopped_early"), 1.0);
}

// Trains on `train_cells` cells (validation: 32 others), saves, and returns the saved manifest.
ModelManifest TrainSaveAndReadManifest(const VaeTrainingOptions& options, int64_t train_cells,
                                       const std::string& folder, std::vector<EpochReport>* reports) {
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(train_cells, 1), TwoClusters(32, 2), options,
               [reports](const EpochReport& report) {
                 if (reports != nullptr) reports->push_back(report);
               });
  EXPECT_TRUE(trained.ok()) << trained.status();
  if (!trained.ok()) return ModelManifest();
  const std::string directory = std::string(std::getenv("TEST_TMPDIR")) + "/" + folder;
  std::filesystem::create_directories(directory);
  EXPECT_TRUE((*trained)->Save(directory, 1).ok());
  std::ifstream file(directory + "/manifest.json");
  std::stringstream json;
  json << file.rdbuf();
  return ModelManifest::FromJson(json.str()).value();
}

TEST(TrainVaeTest, EarlyStoppingKeepsTheBestEpochsWeightsAlsoAfterAResume) {
  // Eight training cells and a high learning rate: the validation loss soon stops improving and wanders.
  VaeTrainingOptions options = FastOptions();
  options.epochs = 80;
  options.batch_size = 8;
  options.learning_rate = 0.05;
  options.early_stopping_patience = 3;
  std::vector<EpochReport> reports;
  const ModelManifest stopped = TrainSaveAndReadManifest(options, 8, "best_stopped", &reports);
  ASSERT_FALSE(reports.empty());
  ASSERT_TRUE(reports.back().stopped_early) << "validation kept improving for " << reports.size() << " epochs";
  size_t best = 0;
  for (size_t i = 1; i < reports.size(); ++i) {
    if (reports[i].validation_loss < reports[best].validation_loss) best = i;
  }
  const int best_epoch = reports[best].epoch;
  ASSERT_LT(best_epoch, reports.back().epoch);
  // The last epochs were worse than the best one, yet the model kept is the best one: its validation loss,
  // measured again on the kept weights, is the best seen, and its weights are those of a run that simply
  // stopped after the best epoch.
  EXPECT_GT(reports.back().validation_loss, reports[best].validation_loss);
  EXPECT_EQ(stopped.training_metrics.at("best_epoch"), best_epoch);
  EXPECT_DOUBLE_EQ(stopped.training_metrics.at("validation_loss"), reports[best].validation_loss);
  EXPECT_DOUBLE_EQ(stopped.training_metrics.at("loss"), reports[best].loss);
  EXPECT_EQ(stopped.training_metrics.at("epochs"), reports.back().epoch);

  VaeTrainingOptions shorter = options;
  shorter.epochs = best_epoch;
  shorter.early_stopping_patience = 0;
  const ModelManifest at_best = TrainSaveAndReadManifest(shorter, 8, "best_shorter", nullptr);
  EXPECT_EQ(at_best.weights_sha256, stopped.weights_sha256);
  EXPECT_EQ(at_best.training_metrics.count("best_epoch"), 0u);

  // Cancelled one epoch after the best one, then resumed from the checkpoint: the same kept weights.
  options.checkpoint_path = std::string(std::getenv("TEST_TMPDIR")) + "/best.ckpt";
  int epochs_done = 0;
  options.cancelled = [&epochs_done, best_epoch] { return epochs_done >= best_epoch + 1; };
  absl::StatusOr<std::unique_ptr<TrainedVae>> cancelled =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(8, 1), TwoClusters(32, 2), options,
               [&epochs_done](const EpochReport&) { ++epochs_done; });
  ASSERT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  options.cancelled = nullptr;
  std::vector<EpochReport> resumed_reports;
  const ModelManifest resumed = TrainSaveAndReadManifest(options, 8, "best_resumed", &resumed_reports);
  ASSERT_FALSE(resumed_reports.empty());
  EXPECT_EQ(resumed_reports.front().resumed_from_epoch, best_epoch + 1);
  EXPECT_EQ(resumed.weights_sha256, stopped.weights_sha256);
  EXPECT_EQ(resumed.training_metrics.at("best_epoch"), best_epoch);
  EXPECT_DOUBLE_EQ(resumed.training_metrics.at("validation_loss"), reports[best].validation_loss);
}

TEST(TrainVaeTest, MixedPrecisionIsRefusedOnTheCpu) {
  VaeTrainingOptions options = FastOptions();
  options.mixed_precision = true;
  options.device = "cpu";
  absl::StatusOr<std::unique_ptr<TrainedVae>> result =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(16, 1), TrainingData(), options, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("mixed_precision: bfloat16 autocast runs on CUDA only"));
}

TEST(ScheduledLearningRateTest, ConstantCosineAndStep) {
  VaeTrainingOptions options;
  options.epochs = 10;
  options.learning_rate = 1.0;
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(options, 7), 1.0);
  options.lr_schedule = "cosine";
  options.min_learning_rate = 0.1;
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(options, 1), 1.0);
  EXPECT_NEAR(ScheduledLearningRate(options, 6), 0.55, 1e-12);  // half way: the mean of both ends
  EXPECT_GT(ScheduledLearningRate(options, 10), 0.1);
  EXPECT_LT(ScheduledLearningRate(options, 10), ScheduledLearningRate(options, 9));
  options.lr_schedule = "step";
  options.lr_step_epochs = 3;
  options.lr_step_gamma = 0.5;
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(options, 3), 1.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(options, 4), 0.5);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(options, 7), 0.25);
}

TEST(ValidateVaeTrainingOptionsTest, NamesTheField) {
  VaeTrainingOptions options;
  options.lr_schedule = "linear";
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("lr_schedule 'linear'"));
  options = VaeTrainingOptions();
  options.gradient_clip_norm = -1;
  EXPECT_EQ(ValidateVaeTrainingOptions(options).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("gradient_clip_norm"));
  options = VaeTrainingOptions();
  options.early_stopping_patience = -1;
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("early_stopping_patience"));
  options = VaeTrainingOptions();
  options.distributed.world_size = 2;
  options.batch_shards = 3;
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("batch_shards"));
  options.batch_shards = 4;
  EXPECT_TRUE(ValidateVaeTrainingOptions(options).ok());
}

TEST(TrainVaeTest, CyclicalKlScheduleTrainsAndTheIwaeBoundIsReported) {
  VaeTrainingOptions options = FastOptions();
  options.epochs = 4;
  options.kl_schedule = "cyclical";
  options.kl_cycle_epochs = 2;
  options.iwae_samples = 8;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
      TrainVae(Manifest("cvae", "gaussian"), TwoClusters(96, 1), TwoClusters(32, 2), options, nullptr);
  ASSERT_TRUE(trained.ok()) << trained.status();
  const ModelManifest& manifest = (*trained)->model().manifest();
  EXPECT_EQ(manifest.hyperparameters.at("kl_schedule"), "cyclical");
  const double iwae = manifest.training_metrics.at("iwae_bound_k8");
  const double elbo = manifest.training_metrics.at("elbo_k8");
  EXPECT_TRUE(std::isfinite(elbo));
  EXPECT_GE(iwae, elbo);  // the same draws: Jensen's inequality
  options.kl_schedule = "cosine";
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("kl_schedule"));
  options.kl_schedule = "linear";
  options.iwae_samples = -1;
  EXPECT_THAT(ValidateVaeTrainingOptions(options).message(), HasSubstr("iwae_samples"));
}

TEST(DistributedOptionsFromEnvironmentTest, ReadsTorchrunVariables) {
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  setenv("MASTER_PORT", "1234", 1);
  absl::StatusOr<DistributedOptions> options = DistributedOptionsFromEnvironment();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->world_size, 4);
  EXPECT_EQ(options->rank, 3);
  EXPECT_EQ(options->master_addr, "10.0.0.1");
  EXPECT_EQ(options->master_port, 1234);
  setenv("RANK", "4", 1);
  EXPECT_THAT(DistributedOptionsFromEnvironment().status().message(), HasSubstr("RANK='4'"));
  for (const char* name : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(name);
  EXPECT_EQ(DistributedOptionsFromEnvironment()->world_size, 1);
}

}  // namespace
}  // namespace genailab
