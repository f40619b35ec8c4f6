#include "common/yaml/yaml_to_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(YamlToJsonTest, MapsTypesAndKeepsQuotedScalarsAsStrings) {
  const std::string json = YamlToJson(R"(
data_path: /data/cells.h5ad
hidden_dims: [128, 64]
dropout: 0.1
seed: 7
mixed: false
condition_key: "1"
nothing: ~
training:
  lr_schedule: cosine
)").value();
  const nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["data_path"], "/data/cells.h5ad");
  EXPECT_EQ(parsed["hidden_dims"], nlohmann::json::array({128, 64}));
  EXPECT_DOUBLE_EQ(parsed["dropout"].get<double>(), 0.1);
  EXPECT_EQ(parsed["seed"], 7);
  EXPECT_EQ(parsed["mixed"], false);
  EXPECT_EQ(parsed["condition_key"], "1");
  EXPECT_TRUE(parsed["nothing"].is_null());
  EXPECT_EQ(parsed["training"]["lr_schedule"], "cosine");
}

TEST(YamlToJsonTest, MalformedYamlIsInvalidArgumentWithItsLine) {
  absl::StatusOr<std::string> json = YamlToJson("a: [1, 2\nb: 3\n");
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(json.status().message(), HasSubstr("YAML: line"));
}

}  // namespace
}  // namespace genailab
