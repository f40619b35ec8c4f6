#include "models/diffusion/diffusion_model.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/diffusion/iterative_training.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

// 2-D Gaussian cells: mean (2, -1), covariance [[1, 0.6], [0.6, 0.5]].
constexpr double kMean[2] = {2.0, -1.0};
constexpr double kCovariance[2][2] = {{1.0, 0.6}, {0.6, 0.5}};

DenseMatrix GaussianCells(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  // Cholesky factor of kCovariance.
  const double l00 = 1.0, l10 = 0.6, l11 = std::sqrt(0.5 - 0.36);
  DenseMatrix x(n, 2);
  for (int64_t i = 0; i < n; ++i) {
    const double z0 = normal(rng), z1 = normal(rng);
    x.at(i, 0) = static_cast<float>(kMean[0] + l00 * z0);
    x.at(i, 1) = static_cast<float>(kMean[1] + l10 * z0 + l11 * z1);
  }
  return x;
}

ModelManifest GaussianManifest(const std::string& sde, const std::string& schedule, const std::string& prediction,
                               const std::string& network) {
  ModelManifest manifest;
  manifest.name = "gaussian";
  manifest.model_type = "diffusion";
  manifest.likelihood = "gaussian";
  manifest.hidden_dims = {64, 64};
  manifest.gene_names = {"g0", "g1"};
  manifest.hyperparameters = {{"pca_components", "2"}, {"sde", sde},          {"noise_schedule", schedule},
                              {"prediction", prediction}, {"network", network}, {"attention_tokens", "2"},
                              {"attention_dim", "32"},   {"sigma_max", "10"}};
  return manifest;
}

std::unique_ptr<TrainedVae> TrainGaussian(const ModelManifest& manifest, int epochs) {
  TrainingData train;
  train.x = GaussianCells(2000, 1);
  VaeTrainingOptions options;
  options.epochs = epochs;
  options.batch_size = 128;
  options.learning_rate = 2e-3;
  options.seed = 5;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainIterativeModel(manifest, train, TrainingData(), options, nullptr);
  EXPECT_TRUE(trained.ok()) << trained.status();
  return std::move(*trained);
}

const DiffusionModel& AsDiffusion(const TrainedVae& trained) {
  return dynamic_cast<const DiffusionModel&>(trained.model());
}

// |mean - kMean|^2 + |cov - kCovariance|_F^2 of cells in gene space: the squared distance between the
// sample's first two moments and the data's.
double MomentDistance(const DenseMatrix& x) {
  double mean[2] = {0, 0};
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int k = 0; k < 2; ++k) mean[k] += x.at(i, k) / x.rows;
  }
  double covariance[2][2] = {{0, 0}, {0, 0}};
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) covariance[a][b] += (x.at(i, a) - mean[a]) * (x.at(i, b) - mean[b]) / (x.rows - 1);
    }
  }
  double distance = 0;
  for (int a = 0; a < 2; ++a) {
    distance += std::pow(mean[a] - kMean[a], 2);
    for (int b = 0; b < 2; ++b) distance += std::pow(covariance[a][b] - kCovariance[a][b], 2);
  }
  return distance;
}

absl::StatusOr<DenseMatrix> Sample(const GenerativeModel& model, int64_t n, uint64_t seed, const std::string& sampler,
                                   int steps, float eta = 0.0f) {
  SamplerOptions options;
  options.sampler = sampler;
  options.steps = steps;
  options.eta = eta;
  absl::StatusOr<std::unique_ptr<SamplingSession>> session = model.BeginGeneration(n, {}, seed, options);
  if (!session.ok()) return session.status();
  while (!(*session)->done()) {
    absl::Status status = model.StepSessions({session->get()});
    if (!status.ok()) return status;
  }
  return model.FinishSession(session->get());
}

class DiffusionGaussianTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trained_ = TrainGaussian(GaussianManifest("vp", "linear", "denoiser", "mlp"), 150).release();
  }
  static void TearDownTestSuite() {
    delete trained_;
    trained_ = nullptr;
  }
  static TrainedVae* trained_;
};
TrainedVae* DiffusionGaussianTest::trained_ = nullptr;

TEST_F(DiffusionGaussianTest, LearnedScoreApproachesAnalyticScore) {
  const DiffusionModel& model = AsDiffusion(*trained_);
  torch::NoGradGuard no_grad;
  // The data in the model's (rotated, scaled) PCA coordinates is Gaussian with this mean and covariance.
  torch::Tensor y = model.network()->Project(
      torch::from_blob(GaussianCells(20000, 9).values.data(), {20000, 2}, torch::kFloat32).clone());
  torch::Tensor mu = y.mean(0);
  torch::Tensor centered = y - mu;
  torch::Tensor sigma = centered.t().matmul(centered) / (y.size(0) - 1);
  torch::manual_seed(3);
  for (double t : {0.1, 0.3, 0.6}) {
    const double a = model.process().SignalScale(t), s = model.process().NoiseScale(t);
    // x_t ~ N(a mu, a^2 Sigma + s^2 I); its score is -C^-1 (x - a mu), so the optimal eps is s C^-1 (x - a mu).
    torch::Tensor c = a * a * sigma + s * s * torch::eye(2);
    torch::Tensor x_t = a * mu + torch::randn({4000, 2}).matmul(torch::linalg_cholesky(c).t());
    torch::Tensor analytic = s * (x_t - a * mu).matmul(torch::inverse(c));
    torch::Tensor learned = model.PredictNoise(x_t, t, torch::Tensor());
    const double relative_error = ((learned - analytic).pow(2).sum() / analytic.pow(2).sum()).item<double>();
    EXPECT_LT(relative_error, 0.05) << "t=" << t;
  }
}

TEST_F(DiffusionGaussianTest, DdimWithEtaZeroInvertsAndRegenerates) {
  const DiffusionModel& model = AsDiffusion(*trained_);
  torch::Tensor x0 = model.network()->Project(
      torch::from_blob(GaussianCells(50, 11).values.data(), {50, 2}, torch::kFloat32).clone());
  torch::Tensor noise = model.InvertDdim(x0, torch::Tensor(), 200);
  // The inverted noise looks like the prior, and DDIM(eta = 0) maps it back to the cells.
  EXPECT_NEAR(noise.std().item<double>(), 1.0, 0.3);
  SamplerOptions options;
  options.sampler = "ddim";
  options.steps = 200;
  absl::StatusOr<std::unique_ptr<IterativeSession>> session =
      model.BeginFromState(noise, torch::Tensor(), torch::Tensor(), torch::Tensor(), 0, options);
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<torch::Tensor> regenerated = model.RunToEnd(session->get());
  ASSERT_TRUE(regenerated.ok()) << regenerated.status();
  const double error = (*regenerated - x0).abs().mean().item<double>();
  EXPECT_LT(error, 0.05 * x0.std().item<double>());
}

TEST_F(DiffusionGaussianTest, MoreStepsDoNotMakeSamplesWorse) {
  const GenerativeModel& model = trained_->model();
  for (const std::string sampler : {"ddim", "ddpm", "pf_ode_heun", "euler_maruyama"}) {
    absl::StatusOr<DenseMatrix> few = Sample(model, 4000, 21, sampler, 4);
    absl::StatusOr<DenseMatrix> many = Sample(model, 4000, 21, sampler, 100);
    ASSERT_TRUE(few.ok() && many.ok()) << sampler;
    const double few_distance = MomentDistance(*few), many_distance = MomentDistance(*many);
    EXPECT_LE(many_distance, few_distance + 0.01) << sampler;
    EXPECT_LT(many_distance, 0.05) << sampler;
  }
}

TEST_F(DiffusionGaussianTest, EverySamplerMatchesTheDataMoments) {
  const GenerativeModel& model = trained_->model();
  for (const std::string sampler : model.Samplers()) {
    absl::StatusOr<DenseMatrix> cells = Sample(model, 4000, 4, sampler, 100, sampler == "ddim" ? 0.5f : 0.0f);
    ASSERT_TRUE(cells.ok()) << sampler << ": " << cells.status();
    // The Langevin corrector's fixed signal-to-noise step size leaves a small bias at 100 steps.
    EXPECT_LT(MomentDistance(*cells), sampler == "predictor_corrector" ? 0.1 : 0.05) << sampler;
  }
}

TEST_F(DiffusionGaussianTest, SessionResultsDoNotDependOnBatchCompanions) {
  const GenerativeModel& model = trained_->model();
  SamplerOptions ancestral{"ddpm", 12, 0.0f, 0.0f};
  SamplerOptions corrector{"predictor_corrector", 7, 0.0f, 0.0f};
  auto alone = model.BeginGeneration(5, {}, 77, ancestral);
  auto a = model.BeginGeneration(5, {}, 77, ancestral);
  auto b = model.BeginGeneration(9, {}, 78, corrector);
  ASSERT_TRUE(alone.ok() && a.ok() && b.ok());
  while (!(*alone)->done()) ASSERT_TRUE(model.StepSessions({alone->get()}).ok());
  while (!(*a)->done()) {
    std::vector<SamplingSession*> batch = {a->get()};
    if (!(*b)->done()) batch.push_back(b->get());
    ASSERT_TRUE(model.StepSessions(batch).ok());
  }
  absl::StatusOr<DenseMatrix> expected = model.FinishSession(alone->get());
  absl::StatusOr<DenseMatrix> batched = model.FinishSession(a->get());
  ASSERT_TRUE(expected.ok() && batched.ok());
  ASSERT_EQ(expected->values.size(), batched->values.size());
  for (size_t i = 0; i < expected->values.size(); ++i) {
    EXPECT_NEAR(batched->values[i], expected->values[i], 1e-5) << i;
  }
}

TEST_F(DiffusionGaussianTest, SameSeedAndOptionsGiveTheSameCells) {
  const GenerativeModel& model = trained_->model();
  absl::StatusOr<DenseMatrix> first = Sample(model, 20, 5, "ddim", 10, 0.7f);
  absl::StatusOr<DenseMatrix> again = Sample(model, 20, 5, "ddim", 10, 0.7f);
  absl::StatusOr<DenseMatrix> other_seed = Sample(model, 20, 6, "ddim", 10, 0.7f);
  absl::StatusOr<DenseMatrix> other_eta = Sample(model, 20, 5, "ddim", 10, 0.0f);
  ASSERT_TRUE(first.ok() && again.ok() && other_seed.ok() && other_eta.ok());
  EXPECT_EQ(first->values, again->values);
  EXPECT_NE(first->values, other_seed->values);
  EXPECT_NE(first->values, other_eta->values);
  absl::StatusOr<DenseMatrix> generated = model.Generate(20, {}, 5, 0.0f, false);
  absl::StatusOr<DenseMatrix> generated_again = model.Generate(20, {}, 5, 0.0f, false);
  ASSERT_TRUE(generated.ok() && generated_again.ok());
  EXPECT_EQ(generated->values, generated_again->values);
}

TEST_F(DiffusionGaussianTest, RejectsWhatItCannotDo) {
  const GenerativeModel& model = trained_->model();
  EXPECT_EQ(model.Encode(GaussianCells(2, 1), {}).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(model.Decode(GaussianCells(2, 1), {}, {}).status().code(), absl::StatusCode::kUnimplemented);
  SamplerOptions unknown{"euler", 5, 0.0f, 0.0f};
  absl::StatusOr<std::unique_ptr<SamplingSession>> session = model.BeginGeneration(3, {}, 1, unknown);
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(session.status().message(), HasSubstr("sampler 'euler'"));
  SamplerOptions bad_eta{"ddim", 5, 1.5f, 0.0f};
  EXPECT_THAT(model.BeginGeneration(3, {}, 1, bad_eta).status().message(), HasSubstr("eta"));
  auto running = model.BeginGeneration(3, {}, 1, SamplerOptions{"ddim", 2, 0.0f, 0.0f});
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(model.FinishSession(running->get()).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(model.StepSessions({running->get()}).ok());
  ASSERT_TRUE(model.StepSessions({running->get()}).ok());
  EXPECT_EQ(model.StepSessions({running->get()}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model.PredictPerturbation(GaussianCells(2, 1), {}, "a", "b", PerturbationMethod::kDefault, {})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(model.Generate(2, {}, 1, 0.0f, /*sample_counts=*/true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DiffusionTrainingTest, MixedPrecisionIsRefused) {
  TrainingData train;
  train.x = GaussianCells(16, 1);
  VaeTrainingOptions options;
  options.epochs = 1;
  options.mixed_precision = true;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainIterativeModel(
      GaussianManifest("vp", "linear", "denoiser", "mlp"), train, TrainingData(), options, nullptr);
  EXPECT_EQ(trained.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(trained.status().message(), HasSubstr("mixed_precision: diffusion training has no autocast path"));
}

// Early stopping is a VAE feature so far: asking a diffusion model for it is refused, not ignored.
TEST(DiffusionTrainingTest, EarlyStoppingIsRefused) {
  TrainingData train;
  train.x = GaussianCells(16, 1);
  VaeTrainingOptions options;
  options.epochs = 1;
  options.early_stopping_patience = 3;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainIterativeModel(
      GaussianManifest("vp", "linear", "denoiser", "mlp"), train, TrainingData(), options, nullptr);
  EXPECT_EQ(trained.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(trained.status().message(), HasSubstr("early_stopping_patience: diffusion training has no early"));
}

TEST_F(DiffusionGaussianTest, CheckpointRoundTripsThroughLoadCheckpoint) {
  const std::filesystem::path directory = std::filesystem::path(::testing::TempDir()) / "diffusion_checkpoint";
  std::filesystem::create_directories(directory);
  ASSERT_TRUE(trained_->Save(directory.string(), 3).ok());
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(directory.string(), "cpu");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->manifest().model_type, "diffusion");
  EXPECT_EQ((*loaded)->manifest().version, 3);
  EXPECT_EQ((*loaded)->manifest().hyperparameters.at("sampler"), "ddim");
  EXPECT_EQ((*loaded)->Samplers(), trained_->model().Samplers());
  absl::StatusOr<DenseMatrix> original = Sample(trained_->model(), 10, 8, "pf_ode_heun", 8);
  absl::StatusOr<DenseMatrix> reloaded = Sample(**loaded, 10, 8, "pf_ode_heun", 8);
  ASSERT_TRUE(original.ok() && reloaded.ok());
  EXPECT_EQ(original->values, reloaded->values);
}

// Every forward process, schedule, parameterization and network trains to samples with the data's moments.
class DiffusionVariantTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string, std::string, std::string>> {};

TEST_P(DiffusionVariantTest, SamplesMatchTheDataMoments) {
  const auto& [sde, schedule, prediction, network] = GetParam();
  std::unique_ptr<TrainedVae> trained = TrainGaussian(GaussianManifest(sde, schedule, prediction, network), 60);
  ASSERT_NE(trained, nullptr);
  // Deterministic samplers need the denoiser parameterization's accuracy at high noise; the stochastic
  // ancestral sampler corrects the other parameterizations' errors there.
  const std::string sampler = prediction != "denoiser" ? "ddpm" : sde == "ve" ? "pf_ode_heun" : "ddim";
  absl::StatusOr<DenseMatrix> cells = Sample(trained->model(), 3000, 2, sampler, 50);
  ASSERT_TRUE(cells.ok()) << cells.status();
  EXPECT_LT(MomentDistance(*cells), 0.15);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, DiffusionVariantTest,
    ::testing::Values(std::make_tuple("vp", "cosine", "denoiser", "mlp"), std::make_tuple("vp", "linear", "score", "mlp"),
                      std::make_tuple("vp", "cosine", "noise", "mlp"), std::make_tuple("ve", "linear", "denoiser", "mlp"),
                      std::make_tuple("ve", "linear", "noise", "mlp"),
                      std::make_tuple("vp", "linear", "denoiser", "attention")));

// Conditional diffusion: two cell types, control and stimulated (the stimulated mean shifted by a
// type-specific offset). Classifier-free guidance and scPPDM-style perturbation prediction.
TEST(ConditionalDiffusionTest, GeneratesPerConditionAndPredictsPerturbations) {
  const double offsets[2][2] = {{0.0, 0.0}, {3.0, -2.0}};  // type_b's base mean
  const double shifts[2][2] = {{2.0, 1.0}, {-1.5, 2.0}};   // stimulation effect per type
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0.0, 0.4);
  TrainingData train;
  train.covariates.resize(2);
  std::vector<float> values;
  for (int type = 0; type < 2; ++type) {
    for (int condition = 0; condition < 2; ++condition) {
      for (int i = 0; i < 600; ++i) {
        for (int k = 0; k < 2; ++k) {
          values.push_back(static_cast<float>(offsets[type][k] + condition * shifts[type][k] + normal(rng)));
        }
        train.covariates[0].push_back(type);
        train.covariates[1].push_back(condition);
      }
    }
  }
  train.x.rows = static_cast<int64_t>(values.size() / 2);
  train.x.cols = 2;
  train.x.values = values;
  ModelManifest manifest = GaussianManifest("vp", "cosine", "denoiser", "mlp");
  manifest.covariates = {{"cell_type", {"type_a", "type_b"}}, {"condition", {"control", "stimulated"}}};
  manifest.condition_key = "condition";
  VaeTrainingOptions options;
  options.epochs = 60;
  options.learning_rate = 2e-3;
  absl::StatusOr<std::unique_ptr<TrainedVae>> trained = TrainIterativeModel(manifest, train, TrainingData(), options, nullptr);
  ASSERT_TRUE(trained.ok()) << trained.status();
  const GenerativeModel& model = (*trained)->model();
  EXPECT_EQ(model.manifest().hyperparameters.at("control_condition"), "control");

  auto column_means = [](const DenseMatrix& x) {
    std::vector<double> mean(x.cols, 0.0);
    for (int64_t i = 0; i < x.rows; ++i) {
      for (int64_t k = 0; k < x.cols; ++k) mean[k] += x.at(i, k) / x.rows;
    }
    return mean;
  };
  // Conditional generation, with and without guidance.
  for (float guidance : {1.0f, 2.0f}) {
    const int64_t n = 1000;
    CovariateCodes codes = {std::vector<int64_t>(n, 1), std::vector<int64_t>(n, 1)};
    SamplerOptions sampler{"ddim", 50, 0.0f, guidance};
    auto session = model.BeginGeneration(n, codes, 1, sampler);
    ASSERT_TRUE(session.ok()) << session.status();
    while (!(*session)->done()) ASSERT_TRUE(model.StepSessions({session->get()}).ok());
    absl::StatusOr<DenseMatrix> cells = model.FinishSession(session->get());
    ASSERT_TRUE(cells.ok());
    const std::vector<double> mean = column_means(*cells);
    EXPECT_NEAR(mean[0], offsets[1][0] + shifts[1][0], 0.25) << "guidance " << guidance;
    EXPECT_NEAR(mean[1], offsets[1][1] + shifts[1][1], 0.25) << "guidance " << guidance;
  }
  // Perturbation: type_b control cells -> stimulated.
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < train.x.rows; ++i) {
    if (train.covariates[0][i] == 1 && train.covariates[1][i] == 0) rows.push_back(i);
  }
  DenseMatrix controls = train.x.SelectRows(rows);
  CovariateCodes codes = {std::vector<int64_t>(rows.size(), 1), std::vector<int64_t>(rows.size(), 0)};
  absl::StatusOr<DenseMatrix> predicted =
      model.PredictPerturbation(controls, codes, "control", "stimulated", PerturbationMethod::kDefault, {});
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  const std::vector<double> mean = column_means(*predicted);
  EXPECT_NEAR(mean[0], offsets[1][0] + shifts[1][0], 0.25);
  EXPECT_NEAR(mean[1], offsets[1][1] + shifts[1][1], 0.25);
  EXPECT_THAT(model.PredictPerturbation(controls, codes, "control", "unknown", PerturbationMethod::kDefault, {})
                  .status()
                  .message(),
              HasSubstr("target: unknown condition \"unknown\""));
  EXPECT_EQ(model.PredictPerturbation(controls, codes, "control", "stimulated", PerturbationMethod::kLatentArithmetic,
                                      {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
