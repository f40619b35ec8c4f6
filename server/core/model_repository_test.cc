#include "server/core/model_repository.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestRepository();
  }
  void AddVersion(const std::string& model, const std::string& version, bool with_manifest = true) {
    fs::create_directories(root_ / model / version);
    if (with_manifest) std::ofstream(root_ / model / version / "manifest.json") << "{}";
  }

  fs::path root_;
};

TEST_F(ModelRepositoryTest, RejectsNamesOutsideTheRepository) {
  auto repository = ModelRepository::Create(root_.string()).value();
  EXPECT_THAT(repository->ListVersions("../x").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'../x'")));
}

TEST_F(ModelRepositoryTest, CreateRejectsMissingRoot) {
  EXPECT_THAT(ModelRepository::Create((root_ / "absent").string()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
  EXPECT_THAT(ModelRepository::Create(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repository_root")));
}

TEST_F(ModelRepositoryTest, ListsModelsAndVersionsWithManifests) {
  AddVersion("beta", "1");
  AddVersion("alpha", "2");
  AddVersion("alpha", "10");
  AddVersion("alpha", "3", /*with_manifest=*/false);
  AddVersion("alpha", ".11.tmp");
  AddVersion("alpha", "0");
  AddVersion("alpha", "-4");
  AddVersion("alpha", "v5");
  AddVersion(".publishing", "1");
  std::ofstream(root_ / "README") << "not a model";

  auto repository = ModelRepository::Create(root_.string());
  ASSERT_THAT(repository, IsOk());
  auto models = (*repository)->ListModels();
  ASSERT_THAT(models, IsOk());
  EXPECT_THAT(*models, ElementsAre("alpha", "beta"));
  auto versions = (*repository)->ListVersions("alpha");
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(*versions, ElementsAre(2, 10));
  auto directory = (*repository)->VersionDirectory("alpha", 10);
  ASSERT_THAT(directory, IsOk());
  EXPECT_EQ(*directory, (root_ / "alpha" / "10").string());
}

TEST_F(ModelRepositoryTest, RejectsTraversalAndUnknownModels) {
  AddVersion("alpha", "1");
  auto repository = ModelRepository::Create((root_ / "alpha").string());
  ASSERT_THAT(repository, IsOk());
  EXPECT_THAT((*repository)->ListVersions("../alpha"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'../alpha'")));
  EXPECT_THAT((*repository)->VersionDirectory("..", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model name")));
  EXPECT_THAT((*repository)->ListVersions("missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'missing'")));
  EXPECT_THAT((*repository)->VersionDirectory("alpha", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version")));
}

}  // namespace
}  // namespace genailab
