// Diffusion and flow matching in a VAE's latent space (representation "vae_latent"): training on synthetic
// cells with known cell types and stimulus response, the self-contained checkpoint and its loading through
// LoadCheckpoint, and what the decoded samples look like.
#include "models/diffusion/vae_latent_space.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "data/preprocessing.h"
#include "data/synthetic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/diffusion/iterative_training.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr int kTypes = 3;
constexpr int64_t kLatentDim = 6;

struct Cells {
  TrainingData data;
  std::vector<std::string> cell_type;
  std::vector<std::string> condition;
};

// Log-normalized synthetic cells: 3 cell types x control / stimulated, one batch.
Cells SyntheticCells(uint64_t seed) {
  SyntheticOptions options;
  options.n_genes = 60;
  options.n_cell_types = kTypes;
  options.n_batches = 1;
  options.cells_per_group = 80;
  options.n_shared_response_genes = 10;
  options.n_specific_response_genes = 6;
  options.response_log_fold_change = 2.0;
  options.seed = seed;
  AnnData data = GenerateSyntheticDataset(options).value();
  NormalizeTotal(&data.x, 1e4);
  Log1p(&data.x);
  Cells cells;
  cells.data.x = data.x;
  cells.cell_type = data.obs.at("cell_type");
  cells.condition = data.obs.at("condition");
  std::vector<int64_t> type_codes, condition_codes;
  for (int64_t i = 0; i < data.x.rows; ++i) {
    type_codes.push_back(cells.cell_type[i].back() - '0');
    condition_codes.push_back(cells.condition[i] == "control" ? 0 : 1);
  }
  cells.data.covariates = {type_codes, condition_codes};
  cells.data.conditions = cells.condition;
  return cells;
}

ModelManifest LatentManifest(const std::string& model_type, const std::vector<std::string>& genes) {
  ModelManifest manifest;
  manifest.name = "latent";
  manifest.model_type = model_type;
  manifest.likelihood = "gaussian";
  manifest.latent_dim = kLatentDim;
  manifest.hidden_dims = {64, 64};
  manifest.covariate_embedding_dim = 4;
  manifest.dropout = 0.0;
  manifest.beta = 0.5;
  manifest.gene_names = genes;
  manifest.covariates = {{"cell_type", {"type_0", "type_1", "type_2"}}, {"condition", {"control", "stimulated"}}};
  manifest.condition_key = "condition";
  manifest.preprocessing.input_space = "counts";
  manifest.preprocessing.normalize_total = 1e4;
  manifest.preprocessing.log1p = true;
  manifest.hyperparameters = {{"representation", "vae_latent"}, {"sampling_steps", "30"}};
  // An unconditional VAE: cell type and condition live in the latent, so only the diffusion / flow can
  // put generated and predicted cells where they belong.
  if (model_type == "diffusion") manifest.hyperparameters["vae_covariates"] = "none";
  return manifest;
}

std::vector<std::string> GeneNames(int64_t n) {
  std::vector<std::string> genes;
  for (int64_t g = 0; g < n; ++g) genes.push_back("gene_" + std::to_string(g));
  return genes;
}

VaeTrainingOptions Options(int epochs) {
  VaeTrainingOptions options;
  options.epochs = epochs;
  options.batch_size = 64;
  options.learning_rate = 2e-3;
  options.kl_warmup_epochs = 10;
  options.seed = 3;
  return options;
}

// Mean expression of the rows of x where keep(i).
template <typename Keep>
std::vector<double> MeanOf(const DenseMatrix& x, Keep keep) {
  std::vector<double> mean(x.cols, 0.0);
  int64_t n = 0;
  for (int64_t i = 0; i < x.rows; ++i) {
    if (!keep(i)) continue;
    ++n;
    for (int64_t g = 0; g < x.cols; ++g) mean[g] += x.at(i, g);
  }
  for (double& v : mean) v /= std::max<int64_t>(n, 1);
  return mean;
}

double Distance(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t g = 0; g < a.size(); ++g) sum += (a[g] - b[g]) * (a[g] - b[g]);
  return std::sqrt(sum);
}

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::filesystem::path path = std::filesystem::path(root ? root : "/tmp") / name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

class LatentDiffusionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cells_ = new Cells(SyntheticCells(11));
    manifest_ = new ModelManifest(LatentManifest("diffusion", GeneNames(cells_->data.x.cols)));
    absl::StatusOr<std::unique_ptr<TrainedVae>> trained =
        TrainIterativeModel(*manifest_, cells_->data, TrainingData(), Options(120), nullptr);
    ASSERT_TRUE(trained.ok()) << trained.status();
    trained_ = trained->release();
  }
  static void TearDownTestSuite() {
    delete trained_;
    delete manifest_;
    delete cells_;
  }
  static Cells* cells_;
  static ModelManifest* manifest_;
  static TrainedVae* trained_;
};
Cells* LatentDiffusionTest::cells_ = nullptr;
ModelManifest* LatentDiffusionTest::manifest_ = nullptr;
TrainedVae* LatentDiffusionTest::trained_ = nullptr;

TEST_F(LatentDiffusionTest, ManifestDescribesTheLatentSpace) {
  const ModelManifest& manifest = trained_->model().manifest();
  EXPECT_EQ(manifest.latent_dim, kLatentDim);
  EXPECT_EQ(manifest.hyperparameters.at("representation"), "vae_latent");
  EXPECT_EQ(manifest.gene_names.size(), static_cast<size_t>(cells_->data.x.cols));
}

TEST_F(LatentDiffusionTest, GeneratedCellsDecodeToGenesAndLookLikeTheirCellType) {
  const GenerativeModel& model = trained_->model();
  const DenseMatrix& x = cells_->data.x;
  std::vector<std::vector<double>> real(kTypes);
  for (int t = 0; t < kTypes; ++t) {
    real[t] = MeanOf(x, [&](int64_t i) {
      return cells_->data.covariates[0][i] == t && cells_->data.covariates[1][i] == 0;
    });
  }
  for (int t = 0; t < kTypes; ++t) {
    const int64_t n = 60;
    CovariateCodes codes = {std::vector<int64_t>(n, t), std::vector<int64_t>(n, 0)};
    absl::StatusOr<DenseMatrix> generated = model.Generate(n, codes, /*seed=*/7 + t, 0.0f, false);
    ASSERT_TRUE(generated.ok()) << generated.status();
    ASSERT_EQ(generated->rows, n);
    ASSERT_EQ(generated->cols, x.cols);
    const std::vector<double> mean = MeanOf(*generated, [](int64_t) { return true; });
    const double own = Distance(mean, real[t]);
    for (int other = 0; other < kTypes; ++other) {
      if (other == t) continue;
      EXPECT_LT(own, Distance(mean, real[other])) << "type_" << t << " generated cells are closer to type_" << other;
    }
  }
}

TEST_F(LatentDiffusionTest, SameSeedAndSamplerGiveTheSameCells) {
  const GenerativeModel& model = trained_->model();
  CovariateCodes codes = {std::vector<int64_t>(5, 1), std::vector<int64_t>(5, 1)};
  SamplerOptions sampler;
  sampler.sampler = "ddpm";
  sampler.steps = 10;
  auto run = [&](uint64_t seed) {
    std::unique_ptr<SamplingSession> session = model.BeginGeneration(5, codes, seed, sampler).value();
    while (!session->done()) EXPECT_TRUE(model.StepSessions({session.get()}).ok());
    return model.FinishSession(session.get()).value();
  };
  const DenseMatrix a = run(4), b = run(4), c = run(5);
  EXPECT_EQ(a.values, b.values);
  EXPECT_NE(a.values, c.values);
}

TEST_F(LatentDiffusionTest, EncodeDecodeAreTheVaes) {
  const GenerativeModel& model = trained_->model();
  DenseMatrix few = cells_->data.x.SelectRows({0, 1, 2});
  CovariateCodes codes = {{cells_->data.covariates[0][0], cells_->data.covariates[0][1], cells_->data.covariates[0][2]},
                          {cells_->data.covariates[1][0], cells_->data.covariates[1][1], cells_->data.covariates[1][2]}};
  absl::StatusOr<LatentPosterior> posterior = model.Encode(few, codes);
  ASSERT_TRUE(posterior.ok()) << posterior.status();
  EXPECT_EQ(posterior->mean.cols, kLatentDim);
  absl::StatusOr<DenseMatrix> decoded = model.Decode(posterior->mean, codes, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->cols, few.cols);
  // The VAE is unconditional, so is the diffusion's null token: unconditional generation works.
  absl::StatusOr<DenseMatrix> unconditional = model.Generate(3, {}, 1, 0.0f, false);
  ASSERT_TRUE(unconditional.ok()) << unconditional.status();
  EXPECT_EQ(unconditional->cols, few.cols);
}

TEST_F(LatentDiffusionTest, PredictedResponseMovesControlsTowardsStimulatedCells) {
  const GenerativeModel& model = trained_->model();
  const DenseMatrix& x = cells_->data.x;
  const auto& types = cells_->data.covariates[0];
  const auto& conditions = cells_->data.covariates[1];
  std::vector<int64_t> controls;
  for (int64_t i = 0; i < x.rows; ++i) {
    if (types[i] == 0 && conditions[i] == 0) controls.push_back(i);
  }
  DenseMatrix control_cells = x.SelectRows(controls);
  const int64_t n = control_cells.rows;
  CovariateCodes codes = {std::vector<int64_t>(n, 0), std::vector<int64_t>(n, 0)};
  absl::StatusOr<DenseMatrix> predicted =
      model.PredictPerturbation(control_cells, codes, "control", "stimulated", PerturbationMethod::kDefault, {});
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ASSERT_EQ(predicted->rows, n);
  ASSERT_EQ(predicted->cols, x.cols);
  const std::vector<double> control_mean = MeanOf(control_cells, [](int64_t) { return true; });
  const std::vector<double> stimulated_mean = MeanOf(x, [&](int64_t i) { return types[i] == 0 && conditions[i] == 1; });
  const std::vector<double> predicted_mean = MeanOf(*predicted, [](int64_t) { return true; });
  EXPECT_LT(Distance(predicted_mean, stimulated_mean), Distance(predicted_mean, control_mean));
}

TEST_F(LatentDiffusionTest, CheckpointIsSelfContainedAndLoadsThroughLoadCheckpoint) {
  const std::string directory = TempDir("latent_diffusion_checkpoint");
  ASSERT_TRUE(trained_->Save(directory, 3).ok());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(directory) / "vae" / "manifest.json"));
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(directory, "cpu");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->manifest().version, 3);
  CovariateCodes codes = {std::vector<int64_t>(4, 2), std::vector<int64_t>(4, 0)};
  const DenseMatrix before = trained_->model().Generate(4, codes, 9, 0.0f, false).value();
  const DenseMatrix after = (*loaded)->Generate(4, codes, 9, 0.0f, false).value();
  ASSERT_EQ(after.values.size(), before.values.size());
  for (size_t i = 0; i < before.values.size(); ++i) ASSERT_NEAR(after.values[i], before.values[i], 1e-4);
  EXPECT_TRUE((*loaded)->Encode(cells_->data.x.SelectRows({0}), {{0}, {0}}).ok());

  // Without its VAE the checkpoint does not load, and says why.
  std::filesystem::remove_all(std::filesystem::path(directory) / "vae");
  absl::StatusOr<std::unique_ptr<GenerativeModel>> broken = LoadCheckpoint(directory, "cpu");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(broken.status().message(), HasSubstr("vae: "));
}

TEST_F(LatentDiffusionTest, FlowMatchingTakesAnExistingVaeCheckpoint) {
  // The diffusion checkpoint's VAE, published on its own, is the VAE of a new flow-matching model.
  const std::string directory = TempDir("latent_source");
  ASSERT_TRUE(trained_->Save(directory, 1).ok());
  const std::string vae_folder = (std::filesystem::path(directory) / "vae").string();
  ModelManifest manifest = LatentManifest("flow_matching", manifest_->gene_names);
  manifest.hyperparameters["vae_checkpoint"] = vae_folder;
  absl::StatusOr<std::unique_ptr<TrainedVae>> flow =
      TrainIterativeModel(manifest, cells_->data, TrainingData(), Options(5), nullptr);
  ASSERT_TRUE(flow.ok()) << flow.status();
  // The encoder is the given VAE's.
  CovariateCodes one = {{0}, {0}};
  const DenseMatrix row = cells_->data.x.SelectRows({0});
  EXPECT_EQ((*flow)->model().Encode(row, one).value().mean.values,
            trained_->model().Encode(row, one).value().mean.values);
  const std::string saved = TempDir("latent_flow");
  ASSERT_TRUE((*flow)->Save(saved, 1).ok());
  std::filesystem::remove_all(directory);  // the copy inside the checkpoint is all it needs
  absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = LoadCheckpoint(saved, "cpu");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CovariateCodes codes = {std::vector<int64_t>(3, 1), std::vector<int64_t>(3, 1)};
  absl::StatusOr<DenseMatrix> generated = (*loaded)->Generate(3, codes, 1, 0.0f, false);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->cols, cells_->data.x.cols);
}

TEST_F(LatentDiffusionTest, VaeThatDoesNotFitIsInvalidArgument) {
  // By default the VAE trained first is a cVAE on every covariate.
  absl::StatusOr<std::unique_ptr<TrainedVae>> conditional = TrainIterativeModel(
      LatentManifest("flow_matching", manifest_->gene_names), cells_->data, TrainingData(), Options(1), nullptr);
  ASSERT_TRUE(conditional.ok()) << conditional.status();
  absl::StatusOr<DenseMatrix> unconditional = (*conditional)->model().Generate(3, {}, 1, 0.0f, false);
  EXPECT_EQ(unconditional.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unconditional.status().message(), HasSubstr("covariates"));
  const std::string directory = TempDir("latent_misfit");
  ASSERT_TRUE((*conditional)->Save(directory, 1).ok());
  absl::StatusOr<std::unique_ptr<GenerativeModel>> vae = LoadCheckpoint(directory + "/vae", "cpu");
  ASSERT_TRUE(vae.ok()) << vae.status();
  EXPECT_EQ((*vae)->manifest().model_type, "cvae");
  std::shared_ptr<const GenerativeModel> shared = std::move(*vae);

  ModelManifest other_genes = *manifest_;
  other_genes.gene_names.back() = "not_a_gene";
  EXPECT_THAT(VaeLatentSpace::Create(other_genes, shared).status().message(), HasSubstr("genes"));
  ModelManifest other_preprocessing = *manifest_;
  other_preprocessing.preprocessing.log1p = false;
  EXPECT_THAT(VaeLatentSpace::Create(other_preprocessing, shared).status().message(), HasSubstr("preprocessing"));
  ModelManifest fewer_covariates = *manifest_;
  fewer_covariates.covariates.pop_back();
  absl::StatusOr<std::unique_ptr<VaeLatentSpace>> missing = VaeLatentSpace::Create(fewer_covariates, shared);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("condition"));

  // Training refuses such a VAE checkpoint too, naming the option.
  ModelManifest manifest = LatentManifest("diffusion", manifest_->gene_names);
  manifest.hyperparameters.erase("vae_covariates");  // a VAE taken by path keeps its own
  manifest.gene_names.front() = "renamed";
  manifest.hyperparameters["vae_checkpoint"] = directory + "/vae";
  absl::StatusOr<std::unique_ptr<TrainedVae>> refused =
      TrainIterativeModel(manifest, cells_->data, TrainingData(), Options(1), nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("genes"));
  manifest.hyperparameters["vae_checkpoint"] = directory + "/nowhere";
  refused = TrainIterativeModel(manifest, cells_->data, TrainingData(), Options(1), nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(refused.status().message(), HasSubstr("vae_checkpoint"));
  // vae_covariates must name covariates.
  manifest = LatentManifest("diffusion", manifest_->gene_names);
  manifest.hyperparameters["vae_covariates"] = "cell_type,donor";
  refused = TrainIterativeModel(manifest, cells_->data, TrainingData(), Options(1), nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("vae_covariates: 'donor'"));
}

TEST_F(LatentDiffusionTest, VaeCovariatesChooseWhatTheVaeIsConditionedOn) {
  const std::string directory = TempDir("latent_vae_covariates");
  EXPECT_EQ(manifest_->hyperparameters.at("vae_covariates"), "none");
  ASSERT_TRUE(trained_->Save(directory, 1).ok());
  EXPECT_EQ(LoadCheckpoint(directory + "/vae", "cpu").value()->manifest().model_type, "vae");
  ModelManifest manifest = LatentManifest("flow_matching", manifest_->gene_names);
  manifest.hyperparameters["vae_covariates"] = "condition";
  absl::StatusOr<std::unique_ptr<TrainedVae>> flow =
      TrainIterativeModel(manifest, cells_->data, TrainingData(), Options(1), nullptr);
  ASSERT_TRUE(flow.ok()) << flow.status();
  ASSERT_TRUE((*flow)->Save(directory, 2).ok());
  const ModelManifest vae = LoadCheckpoint(directory + "/vae", "cpu").value()->manifest();
  ASSERT_EQ(vae.covariates.size(), 1u);
  EXPECT_EQ(vae.covariates[0].name, "condition");
}

}  // namespace
}  // namespace genailab
