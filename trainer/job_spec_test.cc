#include "trainer/job_spec.h"

#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr char kSpec[] = R"json({
  "data_path": "/data/cells.h5ad",
  "covariate_keys": ["cell_type", "condition"],
  "condition_key": "condition",
  "holdout": ["cell_type=B,condition=stimulated"],
  "hidden_dims": [32, 16],
  "dropout": 0,
  "training": {"epochs": 7, "lr_schedule": "cosine", "seed": "42", "gradient_clip_norm": 0,
               "kl_schedule": "cyclical", "kl_cycle_epochs": 4},
  "model_name": "pbmc",
  "quality_gate": {"max_value": 900}
})json";

TEST(JobSpecTest, JsonToTrainingJobSpecKeepsDefaultsOfUnsetFields) {
  const v1::TrainingJobSpec proto = ParseJobSpecJson(kSpec).value();
  absl::StatusOr<TrainingJobSpec> spec = TrainingJobSpecFromProto(proto, "/repo");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->data_path, "/data/cells.h5ad");
  EXPECT_EQ(spec->layer, "X");
  EXPECT_EQ(spec->model_type, "cvae");
  EXPECT_EQ(spec->hidden_dims, (std::vector<int64_t>{32, 16}));
  EXPECT_EQ(spec->latent_dim, 10);
  EXPECT_EQ(spec->dropout, 0.0);  // set explicitly to the proto default
  EXPECT_EQ(spec->beta, 1.0);     // unset
  EXPECT_EQ(spec->training.epochs, 7);
  EXPECT_EQ(spec->training.batch_size, 128);
  EXPECT_EQ(spec->training.lr_schedule, "cosine");
  EXPECT_EQ(spec->training.seed, 42u);
  EXPECT_EQ(spec->training.gradient_clip_norm, 0.0);
  EXPECT_EQ(spec->training.kl_schedule, "cyclical");
  EXPECT_EQ(spec->training.kl_cycle_epochs, 4);
  EXPECT_EQ(spec->repository, "/repo");
  EXPECT_EQ(spec->model_name, "pbmc");
  EXPECT_EQ(spec->quality_gate.metric, "validation_loss");
  EXPECT_FALSE(spec->quality_gate.min_value.has_value());
  EXPECT_EQ(spec->quality_gate.max_value, 900.0);
}

TEST(JobSpecTest, YamlSpecReadsLikeItsJson) {
  absl::StatusOr<v1::TrainingJobSpec> spec = ParseJobSpecYaml(R"(
data_path: /data/cells.h5ad
covariate_keys: [cell_type, condition]
condition_key: condition
hidden_dims: [32, 16]
training:
  epochs: 7
  lr_schedule: cosine
  seed: 42
model_name: pbmc
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->covariate_keys_size(), 2);
  EXPECT_EQ(spec->training().epochs(), 7);
  EXPECT_EQ(spec->training().seed(), 42u);
  EXPECT_TRUE(TrainingJobSpecFromProto(*spec, "/repo").ok());
  EXPECT_THAT(ParseJobSpecYaml("data_path: x\nepochs: 3\n").status().message(), HasSubstr("epochs"));
  EXPECT_TRUE(IsJobSpecFileName("a.yml"));
  EXPECT_FALSE(IsJobSpecFileName("a.txt"));
}

TEST(JobSpecTest, UnknownJsonFieldIsInvalidArgumentNamingIt) {
  absl::StatusOr<v1::TrainingJobSpec> spec = ParseJobSpecJson(R"({"data_path": "x", "epochs": 3})");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("epochs"));
}

TEST(JobSpecTest, InvalidSpecNamesTheField) {
  v1::TrainingJobSpec proto = ParseJobSpecJson(kSpec).value();
  proto.mutable_training()->set_lr_schedule("linear");
  absl::StatusOr<TrainingJobSpec> spec = TrainingJobSpecFromProto(proto, "/repo");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("lr_schedule"));

  proto = ParseJobSpecJson(kSpec).value();
  proto.clear_covariate_keys();
  EXPECT_THAT(TrainingJobSpecFromProto(proto, "/repo").status().message(), HasSubstr("covariate_keys"));

  proto = ParseJobSpecJson(kSpec).value();
  proto.clear_model_name();
  EXPECT_THAT(TrainingJobSpecFromProto(proto, "/repo").status().message(), HasSubstr("model_name"));

  proto = ParseJobSpecJson(kSpec).value();
  proto.mutable_quality_gate()->set_min_value(1000);
  EXPECT_THAT(TrainingJobSpecFromProto(proto, "/repo").status().message(), HasSubstr("quality_gate"));
}

TEST(JobSpecTest, DiffusionOptionsTravelFromJsonAndYamlIntoModelOptions) {
  const v1::TrainingJobSpec json = ParseJobSpecJson(R"json({
    "data_path": "/data/cells.h5ad", "model_name": "pbmc_diffusion", "model_type": "diffusion",
    "covariate_keys": ["cell_type"], "latent_dim": 8,
    "model_options": {"representation": "vae_latent", "sde": "vp", "noise_schedule": "cosine",
                      "prediction": "noise", "network": "attention", "sampler": "ddim", "sampling_steps": 25,
                      "eta": 0.5, "guidance_scale": 2, "covariate_dropout": 0.2, "pca_components": "30"}
  })json").value();
  absl::StatusOr<TrainingJobSpec> spec = TrainingJobSpecFromProto(json, "/repo");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model_type, "diffusion");
  const std::map<std::string, std::string> expected = {
      {"representation", "vae_latent"}, {"sde", "vp"}, {"noise_schedule", "cosine"}, {"prediction", "noise"},
      {"network", "attention"}, {"sampler", "ddim"}, {"sampling_steps", "25"}, {"eta", "0.5"},
      {"guidance_scale", "2"}, {"covariate_dropout", "0.2"}, {"pca_components", "30"}};
  EXPECT_EQ(spec->model_options, expected);

  absl::StatusOr<v1::TrainingJobSpec> yaml = ParseJobSpecYaml(R"(
data_path: /data/cells.h5ad
model_name: pbmc_flow
model_type: flow_matching
model_options:
  sampler: euler
  sampling_steps: 12
  ot_pairing: false
  control_condition: ctrl
)");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  spec = TrainingJobSpecFromProto(*yaml, "/repo");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model_options, (std::map<std::string, std::string>{{"sampler", "euler"},
                                                                     {"sampling_steps", "12"},
                                                                     {"ot_pairing", "false"},
                                                                     {"control_condition", "ctrl"}}));
}

TEST(JobSpecTest, BadDiffusionOptionsAreInvalidArgumentNamingTheField) {
  v1::TrainingJobSpec proto = ParseJobSpecJson(R"json({
    "data_path": "/data/cells.h5ad", "model_name": "m", "model_type": "diffusion"})json").value();
  ASSERT_TRUE(TrainingJobSpecFromProto(proto, "/repo").ok());
  auto expect_invalid = [&](const std::string& field) {
    absl::StatusOr<TrainingJobSpec> spec = TrainingJobSpecFromProto(proto, "/repo");
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(spec.status().message(), HasSubstr("model_options")) << field;
    EXPECT_THAT(spec.status().message(), HasSubstr(field));
  };
  proto.mutable_model_options()->set_noise_schedule("quadratic");
  expect_invalid("noise_schedule");
  proto.mutable_model_options()->clear_noise_schedule();
  proto.mutable_model_options()->set_eta(1.5);
  expect_invalid("eta");
  proto.mutable_model_options()->clear_eta();
  proto.mutable_model_options()->set_representation("umap");
  expect_invalid("representation");
  proto.mutable_model_options()->clear_representation();
  proto.mutable_model_options()->set_vae_checkpoint("/models/vae/1");  // without representation vae_latent
  expect_invalid("vae_checkpoint");
  proto.mutable_model_options()->clear_vae_checkpoint();
  proto.mutable_model_options()->set_sampling_steps(-3);
  expect_invalid("sampling_steps");
  proto.mutable_model_options()->clear_sampling_steps();
  // Options of an iterative model on a VAE.
  proto.set_model_type("cvae");
  proto.add_covariate_keys("cell_type");
  proto.mutable_model_options()->set_sde("ve");
  expect_invalid("model_options");
  // Unknown model types are still named.
  proto.clear_model_options();
  proto.set_model_type("gan");
  absl::StatusOr<TrainingJobSpec> spec = TrainingJobSpecFromProto(proto, "/repo");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("model_type"));
}

}  // namespace
}  // namespace genailab
