#include "trainer/job_spec.h"

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

}  // namespace
}  // namespace genailab
