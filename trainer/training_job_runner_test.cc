#include "trainer/training_job_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "models/checkpoint.h"
#include "trainer/job_spec.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

class TrainingJobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::getenv("TEST_TMPDIR");
    SyntheticOptions options;
    options.n_genes = 30;
    options.n_cell_types = 2;
    options.n_batches = 1;
    options.cells_per_group = 20;
    options.n_shared_response_genes = 4;
    options.n_specific_response_genes = 2;
    options.seed = 3;
    data_path_ = tmp_ + "/runner.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path_, GenerateSyntheticDataset(options).value()).ok());
    runner_options_.repository = tmp_ + "/repository";
  }

  v1::TrainingJobSpec DiffusionSpec(const std::string& representation) const {
    return ParseJobSpecYaml(R"(
data_path: )" + data_path_ + R"(
model_name: runner_diffusion
model_type: diffusion
covariate_keys: [cell_type, condition]
condition_key: condition
latent_dim: 3
hidden_dims: [16]
training: {epochs: 2, batch_size: 32}
model_options:
  representation: )" + representation + R"(
  pca_components: 5
  sampler: ddpm
  sampling_steps: 5
  guidance_scale: 1.5
)").value();
  }

  std::string tmp_;
  std::string data_path_;
  TrainingJobRunnerOptions runner_options_;
};

TEST_F(TrainingJobRunnerTest, DiffusionJobPublishesALoadableModel) {
  for (const std::string representation : {"pca", "vae_latent"}) {
    v1::Job job;
    job.set_id("job-" + representation);
    *job.mutable_spec() = DiffusionSpec(representation);
    if (representation == "vae_latent") job.mutable_spec()->mutable_model_options()->set_vae_covariates("none");
    ASSERT_TRUE(MakeTrainingJobSpecValidator(runner_options_)(job.spec()).ok());
    JobRunContext context;
    context.job_directory = tmp_ + "/work/" + job.id();
    std::filesystem::create_directories(context.job_directory);
    int reports = 0;
    context.report_progress = [&](const v1::JobProgress& progress) {
      ++reports;
      EXPECT_EQ(progress.epochs(), 2);
    };
    context.cancelled = [] { return false; };
    absl::StatusOr<JobOutcome> outcome = MakeTrainingJobRunner(runner_options_)(job, context);
    ASSERT_TRUE(outcome.ok()) << representation << ": " << outcome.status();
    EXPECT_EQ(outcome->state, v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(reports, 2);
    absl::StatusOr<std::unique_ptr<GenerativeModel>> model = LoadCheckpoint(outcome->published_directory, "cpu");
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelManifest& manifest = (*model)->manifest();
    EXPECT_EQ(manifest.model_type, "diffusion");
    EXPECT_EQ(manifest.hyperparameters.at("representation"), representation);
    EXPECT_EQ(manifest.hyperparameters.at("sampler"), "ddpm");
    EXPECT_EQ(manifest.hyperparameters.at("guidance_scale"), "1.5");
    EXPECT_EQ(manifest.latent_dim, representation == "pca" ? 5 : 3);
    if (representation == "vae_latent") {
      // vae_covariates "none": the VAE inside the checkpoint is unconditional.
      EXPECT_EQ(LoadCheckpoint(outcome->published_directory + "/vae", "cpu").value()->manifest().model_type, "vae");
    }
    const DenseMatrix cells = (*model)->Generate(2, {{0, 1}, {1, 0}}, 4, 0.0f, false).value();
    EXPECT_EQ(cells.rows, 2);
    EXPECT_EQ(cells.cols, 30);
  }
}

TEST_F(TrainingJobRunnerTest, ValidatorNamesBadModelOptionsAndMissingVaeCheckpoint) {
  const JobSpecValidator validate = MakeTrainingJobSpecValidator(runner_options_);
  v1::TrainingJobSpec spec = DiffusionSpec("pca");
  spec.mutable_model_options()->set_prediction("velocity");
  absl::Status status = validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("model_options"));
  EXPECT_THAT(status.message(), HasSubstr("prediction"));

  spec = DiffusionSpec("vae_latent");
  spec.mutable_model_options()->set_vae_checkpoint(tmp_ + "/no_such_vae");
  status = validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("model_options.vae_checkpoint"));
}

}  // namespace
}  // namespace genailab
