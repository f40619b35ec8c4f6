#include "models/model_manifest.h"

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelManifest FullManifest() {
  ModelManifest manifest;
  manifest.name = "pbmc";
  manifest.version = 3;
  manifest.model_type = "cvae";
  manifest.likelihood = "negative_binomial";
  manifest.latent_dim = 10;
  manifest.hidden_dims = {128, 64};
  manifest.covariate_embedding_dim = 4;
  manifest.dropout = 0.1;
  manifest.beta = 0.5;
  manifest.hyperparameters = {{"epochs", "20"}, {"lr", "0.001"}};
  manifest.gene_names = {"CD3E", "MS4A1", "LYZ"};
  manifest.covariates = {{"condition", {"ctrl", "stim"}}, {"batch", {"b1", "b2", "b3"}}};
  manifest.condition_key = "condition";
  manifest.latent_condition_means = {{"ctrl", {0.5f, -1.25f}, 100}, {"stim", {1.0f, 2.0f}, 80}};
  manifest.median_library_size = 2345.5;
  manifest.preprocessing.input_space = "counts";
  manifest.preprocessing.normalize_total = 10000;
  manifest.preprocessing.log1p = true;
  manifest.preprocessing.layer = "layers/counts";
  manifest.training_metrics = {{"loss", 12.5}, {"validation_loss", std::nan("")}};
  manifest.data_fingerprint = "abc123";
  manifest.created_at = "2024-01-02T03:04:05Z";
  manifest.weights_file = "weights.pt";
  manifest.weights_sha256 = "deadbeef";
  return manifest;
}

std::string ReplaceField(const std::string& json_text, const std::string& field, nlohmann::json value) {
  nlohmann::json json = nlohmann::json::parse(json_text);
  json[field] = std::move(value);
  return json.dump();
}

std::string EraseField(const std::string& json_text, const std::string& field) {
  nlohmann::json json = nlohmann::json::parse(json_text);
  json.erase(field);
  return json.dump();
}

TEST(ModelManifestTest, JsonRoundTripKeepsEveryField) {
  const ModelManifest original = FullManifest();
  const std::string json = original.ToJson();
  EXPECT_THAT(json, HasSubstr("\n  \"beta\""));  // pretty-printed

  absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->format_version, ModelManifest::kFormatVersion);
  EXPECT_EQ(parsed->name, "pbmc");
  EXPECT_EQ(parsed->version, 3);
  EXPECT_EQ(parsed->model_type, "cvae");
  EXPECT_EQ(parsed->likelihood, "negative_binomial");
  EXPECT_EQ(parsed->latent_dim, 10);
  EXPECT_THAT(parsed->hidden_dims, ElementsAre(128, 64));
  EXPECT_EQ(parsed->covariate_embedding_dim, 4);
  EXPECT_DOUBLE_EQ(parsed->dropout, 0.1);
  EXPECT_DOUBLE_EQ(parsed->beta, 0.5);
  EXPECT_EQ(parsed->hyperparameters, original.hyperparameters);
  EXPECT_EQ(parsed->gene_names, original.gene_names);
  ASSERT_EQ(parsed->covariates.size(), 2u);
  EXPECT_EQ(parsed->covariates[1].name, "batch");
  EXPECT_THAT(parsed->covariates[1].values, ElementsAre("b1", "b2", "b3"));
  EXPECT_EQ(parsed->condition_key, "condition");
  ASSERT_EQ(parsed->latent_condition_means.size(), 2u);
  EXPECT_EQ(parsed->latent_condition_means[0].condition, "ctrl");
  EXPECT_THAT(parsed->latent_condition_means[0].mean, ElementsAre(0.5f, -1.25f));
  EXPECT_EQ(parsed->latent_condition_means[1].n_cells, 80);
  EXPECT_DOUBLE_EQ(parsed->median_library_size, 2345.5);
  EXPECT_EQ(parsed->preprocessing.input_space, "counts");
  EXPECT_DOUBLE_EQ(parsed->preprocessing.normalize_total, 10000);
  EXPECT_TRUE(parsed->preprocessing.log1p);
  EXPECT_EQ(parsed->preprocessing.layer, "layers/counts");
  EXPECT_DOUBLE_EQ(parsed->training_metrics.at("loss"), 12.5);
  EXPECT_TRUE(std::isnan(parsed->training_metrics.at("validation_loss")));
  EXPECT_EQ(parsed->data_fingerprint, "abc123");
  EXPECT_EQ(parsed->created_at, "2024-01-02T03:04:05Z");
  EXPECT_EQ(parsed->weights_file, "weights.pt");
  EXPECT_EQ(parsed->weights_sha256, "deadbeef");
  EXPECT_EQ(parsed->ToJson(), json);
}

TEST(ModelManifestTest, OutputSpaceFollowsLikelihood) {
  ModelManifest manifest;
  manifest.likelihood = "negative_binomial";
  EXPECT_EQ(manifest.OutputSpace(), "counts");
  manifest.likelihood = "gaussian";
  EXPECT_EQ(manifest.OutputSpace(), "log_normalized");
}

TEST(ModelManifestTest, CovariateIndexFindsByName) {
  const ModelManifest manifest = FullManifest();
  EXPECT_EQ(manifest.CovariateIndex("condition"), 0);
  EXPECT_EQ(manifest.CovariateIndex("batch"), 1);
  EXPECT_EQ(manifest.CovariateIndex("donor"), -1);
}

TEST(ModelManifestTest, MissingRequiredFieldIsNamed) {
  const std::string json = FullManifest().ToJson();
  for (const std::string field : {"name", "latent_dim", "gene_names", "covariates", "weights_file"}) {
    absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson(EraseField(json, field));
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(parsed.status().message(), HasSubstr("missing field '" + field + "'"));
  }
}

TEST(ModelManifestTest, MalformedFieldIsNamed) {
  const std::string json = FullManifest().ToJson();
  absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson(ReplaceField(json, "latent_dim", "ten"));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("'latent_dim' is malformed"));

  parsed = ModelManifest::FromJson(ReplaceField(json, "hidden_dims", nlohmann::json::array({64, "x"})));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("'hidden_dims[1]'"));

  nlohmann::json bad_covariates = nlohmann::json::array({{{"name", "batch"}, {"values", {1, 2}}}});
  parsed = ModelManifest::FromJson(ReplaceField(json, "covariates", bad_covariates));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("'covariates[0].values[0]'"));
}

TEST(ModelManifestTest, DuplicateGeneNamesAreRefused) {
  // Request columns are matched to the model's genes by name, so a name must mean one column.
  const std::string json =
      ReplaceField(FullManifest().ToJson(), "gene_names", nlohmann::json::array({"CD3E", "LYZ", "CD3E"}));
  absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson(json);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("gene_names: duplicate name 'CD3E' at positions 0 and 2"));
  EXPECT_TRUE(CheckUniqueNames({"a", "b", "c"}, "x").ok());
}

TEST(ModelManifestTest, NotJsonIsInvalidArgument) {
  absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson("{ not json");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("not valid JSON"));
}

TEST(ModelManifestTest, UnknownFormatVersionIsFailedPrecondition) {
  const std::string json = ReplaceField(FullManifest().ToJson(), "format_version", 99);
  absl::StatusOr<ModelManifest> parsed = ModelManifest::FromJson(json);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(parsed.status().message(), HasSubstr("format_version 99"));
}

}  // namespace
}  // namespace genailab
