#include "trainer/training_job.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "models/checkpoint.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TrainingJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::getenv("TEST_TMPDIR");
    SyntheticOptions options;
    options.n_genes = 40;
    options.n_cell_types = 2;
    options.n_batches = 1;
    options.cells_per_group = 30;
    options.n_shared_response_genes = 5;
    options.n_specific_response_genes = 3;
    options.seed = 7;
    data_path_ = tmp_ + "/synthetic.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path_, GenerateSyntheticDataset(options).value()).ok());
  }

  TrainingJobSpec SmallSpec(const std::string& repository) const {
    TrainingJobSpec spec;
    spec.data_path = data_path_;
    spec.covariate_keys = {"cell_type", "condition"};
    spec.condition_key = "condition";
    spec.holdout = {"cell_type=type_1,condition=stimulated"};
    spec.latent_dim = 4;
    spec.hidden_dims = {16};
    spec.training.epochs = 2;
    spec.training.batch_size = 32;
    spec.repository = tmp_ + "/" + repository;
    spec.model_name = "small";
    return spec;
  }

  std::string tmp_;
  std::string data_path_;
};

TEST_F(TrainingJobTest, TrainsHoldsOutAndPublishesLoadableVersions) {
  const TrainingJobSpec spec = SmallSpec("repo");
  int epochs_seen = 0;
  const TrainingJobResult first =
      RunTrainingJob(spec, [&](const EpochReport&) { ++epochs_seen; }).value();
  EXPECT_EQ(epochs_seen, 2);
  EXPECT_EQ(first.published.version, 1);
  EXPECT_EQ(first.n_held_out_cells, 30);
  EXPECT_EQ(first.n_train_cells + first.n_validation_cells, 90);
  EXPECT_GT(first.n_validation_cells, 0);

  auto model = LoadCheckpoint(first.published.directory, "cpu").value();
  const ModelManifest& manifest = model->manifest();
  EXPECT_EQ(manifest.version, 1);
  EXPECT_EQ(manifest.name, "small");
  EXPECT_EQ(manifest.gene_names.size(), 40u);
  ASSERT_EQ(manifest.covariates.size(), 2u);
  // The held-out combination stays requestable: both values are in the vocabularies.
  EXPECT_THAT(manifest.covariates[0].values, ElementsAre("type_0", "type_1"));
  EXPECT_THAT(manifest.covariates[1].values, ElementsAre("control", "stimulated"));
  EXPECT_EQ(manifest.preprocessing.input_space, "counts");
  EXPECT_TRUE(manifest.preprocessing.log1p);
  EXPECT_EQ(manifest.data_fingerprint.size(), 64u);
  EXPECT_EQ(manifest.hyperparameters.at("holdout"), "cell_type=type_1,condition=stimulated");
  EXPECT_TRUE(manifest.training_metrics.count("validation_loss"));

  const TrainingJobResult second = RunTrainingJob(spec, nullptr).value();
  EXPECT_EQ(second.published.version, 2);
  EXPECT_EQ(LoadCheckpoint(second.published.directory, "cpu").value()->manifest().data_fingerprint,
            manifest.data_fingerprint);
}

TEST_F(TrainingJobTest, InvalidSpecsNameTheField) {
  TrainingJobSpec spec = SmallSpec("invalid");
  spec.model_type = "gan";
  EXPECT_THAT(std::string(ValidateTrainingJobSpec(spec).message()), HasSubstr("model_type 'gan'"));
  spec = SmallSpec("invalid");
  spec.model_name = "../outside";
  EXPECT_THAT(std::string(ValidateTrainingJobSpec(spec).message()), HasSubstr("model_name"));
  spec = SmallSpec("invalid");
  spec.holdout = {"cell_type"};
  EXPECT_EQ(ValidateTrainingJobSpec(spec).code(), absl::StatusCode::kInvalidArgument);
  spec = SmallSpec("invalid");
  spec.training.epochs = 0;
  EXPECT_THAT(std::string(ValidateTrainingJobSpec(spec).message()), HasSubstr("epochs"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ + "/invalid"));
}

TEST_F(TrainingJobTest, MissingColumnAndFileAreNotFound) {
  TrainingJobSpec spec = SmallSpec("missing");
  spec.covariate_keys = {"donor"};
  const auto no_column = RunTrainingJob(spec, nullptr);
  EXPECT_EQ(no_column.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_column.status().message()), HasSubstr("donor"));
  spec = SmallSpec("missing");
  spec.data_path = tmp_ + "/absent.h5ad";
  EXPECT_EQ(RunTrainingJob(spec, nullptr).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TrainingJobTest, DuplicateGeneNamesAreRefusedBeforeTraining) {
  SyntheticOptions options;
  options.n_genes = 10;
  options.n_cell_types = 2;
  options.n_batches = 1;
  options.cells_per_group = 10;
  options.n_shared_response_genes = 2;
  options.n_specific_response_genes = 1;
  AnnData data = GenerateSyntheticDataset(options).value();
  data.var_names[7] = data.var_names[2];
  TrainingJobSpec spec = SmallSpec("duplicates");
  spec.data_path = tmp_ + "/duplicates.h5ad";
  spec.holdout.clear();
  ASSERT_TRUE(WriteH5ad(spec.data_path, data).ok());
  const auto result = RunTrainingJob(spec, nullptr);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("var_names: duplicate name '" + data.var_names[2] + "' at positions 2 and 7"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("var_names_make_unique"));
}

TEST_F(TrainingJobTest, TrainsAndPublishesDiffusionAndFlowMatchingModels) {
  for (const std::string model_type : {"diffusion", "flow_matching"}) {
    TrainingJobSpec spec = SmallSpec("iterative_" + model_type);
    spec.model_type = model_type;
    spec.model_options = {{"pca_components", "6"}, {"sampling_steps", "4"}};
    if (model_type == "diffusion") spec.model_options["noise_schedule"] = "cosine";
    const TrainingJobResult result = RunTrainingJob(spec, nullptr).value();
    auto model = LoadCheckpoint(result.published.directory, "cpu").value();
    EXPECT_EQ(model->manifest().model_type, model_type);
    EXPECT_EQ(model->manifest().latent_dim, 6);
    EXPECT_EQ(model->manifest().hyperparameters.at("sampling_steps"), "4");
    const DenseMatrix cells = model->Generate(3, {{0, 1, 1}, {0, 0, 1}}, 1, 0.0f, false).value();
    EXPECT_EQ(cells.rows, 3);
    EXPECT_EQ(cells.cols, 40);
  }
  TrainingJobSpec spec = SmallSpec("bad_options");
  spec.model_type = "diffusion";
  spec.model_options = {{"sde", "sub_vp"}};
  EXPECT_THAT(std::string(ValidateTrainingJobSpec(spec).message()), HasSubstr("sde 'sub_vp'"));
  spec.model_type = "cvae";
  EXPECT_THAT(std::string(ValidateTrainingJobSpec(spec).message()), HasSubstr("model_options"));
}

TEST_F(TrainingJobTest, DiffusionInAVaeLatentSpaceOfCountsHonoursLibrarySize) {
  TrainingJobSpec spec = SmallSpec("latent");
  spec.model_type = "diffusion";
  spec.likelihood = "negative_binomial";
  spec.training.epochs = 3;
  spec.model_options = {{"representation", "vae_latent"}, {"sampling_steps", "4"}};
  const TrainingJobResult result = RunTrainingJob(spec, nullptr).value();
  ASSERT_EQ(result.published.version, 1);
  EXPECT_TRUE(std::filesystem::exists(result.published.directory + "/vae/manifest.json"));
  auto model = LoadCheckpoint(result.published.directory, "cpu").value();
  EXPECT_EQ(model->manifest().model_type, "diffusion");
  EXPECT_EQ(model->manifest().latent_dim, 4);  // the VAE's latent_dim
  EXPECT_EQ(model->manifest().OutputSpace(), "counts");
  const DenseMatrix cells = model->Generate(3, {{0, 1, 1}, {0, 0, 1}}, 1, 1000.0f, false).value();
  ASSERT_EQ(cells.rows, 3);
  ASSERT_EQ(cells.cols, 40);
  for (int64_t i = 0; i < cells.rows; ++i) {
    double total = 0;
    for (int64_t g = 0; g < cells.cols; ++g) total += cells.at(i, g);
    EXPECT_NEAR(total, 1000.0, 1.0) << "row " << i;  // the NB decoder's means sum to the library size
  }

  // A second model takes the first one's VAE by path instead of training one.
  TrainingJobSpec flow = SmallSpec("latent");
  flow.model_type = "flow_matching";
  flow.likelihood = "negative_binomial";
  flow.model_name = "small_flow";
  flow.model_options = {{"representation", "vae_latent"}, {"vae_checkpoint", result.published.directory + "/vae"}};
  const TrainingJobResult second = RunTrainingJob(flow, nullptr).value();
  auto flow_model = LoadCheckpoint(second.published.directory, "cpu").value();
  const DenseMatrix cell = cells.SelectRows({0});
  EXPECT_EQ(flow_model->Encode(cell, {{0}, {0}}).value().mean.values,
            model->Encode(cell, {{0}, {0}}).value().mean.values);
}

}  // namespace
}  // namespace genailab
