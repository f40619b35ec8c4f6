#include "models/checkpoint_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/sha256.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CheckpointWriterTest, WritesWeightsAndAManifestThatNamesThem) {
  const std::string directory = std::string(std::getenv("TEST_TMPDIR")) + "/version";
  std::filesystem::create_directories(directory);
  ModelManifest manifest;
  manifest.name = "m";
  manifest.model_type = "vae";
  manifest.weights_file = "";
  ASSERT_TRUE(WriteCheckpointFiles(directory, 7, manifest, "weight bytes").ok());

  EXPECT_EQ(ReadAll(directory + "/weights.pt"), "weight bytes");
  const ModelManifest written = ModelManifest::FromJson(ReadAll(directory + "/manifest.json")).value();
  EXPECT_EQ(written.version, 7);
  EXPECT_EQ(written.weights_file, "weights.pt");
  EXPECT_EQ(written.weights_sha256, Sha256::OfFile(directory + "/weights.pt").value());
}

TEST(CheckpointWriterTest, MissingDirectoryIsNotFound) {
  const absl::Status status =
      WriteCheckpointFiles(std::string(std::getenv("TEST_TMPDIR")) + "/absent", 1, ModelManifest(), "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("absent"));
}

}  // namespace
}  // namespace genailab
