#include "server/core/model_manager.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(std::getenv("TEST_TMPDIR")) /
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  std::string AddVersion(const std::string& name, int64_t version) {
    return WriteFakeVersion(root_.string(), FakeManifest(name, version));
  }
  void MarkFailing(const std::string& dir) { std::ofstream(fs::path(dir) / "FAIL") << "x"; }

  std::unique_ptr<ModelManager> MakeManager(ServerMetrics* metrics = nullptr) {
    ModelManager::Options options;
    options.repository_root = root_.string();
    options.device = "cpu";
    options.loader = FakeModelLoader();
    options.metrics = metrics;
    auto manager = ModelManager::Create(std::move(options));
    EXPECT_THAT(manager, IsOk());
    return manager.ok() ? std::move(manager).value() : nullptr;
  }

  fs::path root_;
};

TEST_F(ModelManagerTest, CreateValidatesOptions) {
  ModelManager::Options options;
  options.repository_root = root_.string();
  EXPECT_THAT(ModelManager::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("loader")));
  options.loader = FakeModelLoader();
  options.repository_root = (root_ / "absent").string();
  EXPECT_THAT(ModelManager::Create(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
}

TEST_F(ModelManagerTest, LoadsNewestVersionOfEachModel) {
  AddVersion("alpha", 1);
  AddVersion("alpha", 3);
  AddVersion("beta", 2);
  auto manager = MakeManager();
  ASSERT_NE(manager, nullptr);
  auto served = manager->LoadNewest();
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(*served, 2);
  auto alpha = manager->Get("alpha", 0);
  ASSERT_THAT(alpha, IsOk());
  EXPECT_EQ((*alpha)->version, 3);
  EXPECT_EQ((*alpha)->model->manifest().name, "alpha");
  auto list = manager->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]->name, "alpha");
  EXPECT_EQ(list[1]->name, "beta");
}

TEST_F(ModelManagerTest, SkipsFailingVersionAndModel) {
  AddVersion("alpha", 1);
  MarkFailing(AddVersion("alpha", 2));
  MarkFailing(AddVersion("broken", 1));
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_THAT(metrics, IsOk());
  auto manager = MakeManager(metrics->get());
  ASSERT_NE(manager, nullptr);
  auto served = manager->LoadNewest();
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(*served, 1);
  auto alpha = manager->Get("alpha", 0);
  ASSERT_THAT(alpha, IsOk());
  EXPECT_EQ((*alpha)->version, 1);
  EXPECT_THAT(manager->Get("broken", 0), StatusIs(absl::StatusCode::kNotFound, HasSubstr("'broken'")));
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_load_failures_total{model="alpha"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_load_failures_total{model="broken"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_loaded{model="alpha",version="1"} 1)"));
}

TEST_F(ModelManagerTest, RefreshSwapsInNewerVersionAndKeepsOldOneAlive) {
  AddVersion("alpha", 1);
  std::vector<std::string> loaded;
  ModelManager::Options options;
  options.repository_root = root_.string();
  options.loader = FakeModelLoader();
  options.on_model_loaded = [&loaded](const ServableModel& m) {
    loaded.push_back(m.name + "/" + std::to_string(m.version));
  };
  auto manager = ModelManager::Create(options);
  ASSERT_THAT(manager, IsOk());
  ASSERT_THAT((*manager)->LoadNewest(), IsOk());
  auto held = (*manager)->Get("alpha", 1);
  ASSERT_THAT(held, IsOk());

  AddVersion("alpha", 2);
  auto changed = (*manager)->Refresh();
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(*changed, 1);
  auto newest = (*manager)->Get("alpha", 0);
  ASSERT_THAT(newest, IsOk());
  EXPECT_EQ((*newest)->version, 2);
  // A request that held version 1 still has a usable model.
  EXPECT_EQ((*held)->model->manifest().version, 1);
  EXPECT_THAT((*manager)->Get("alpha", 1),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 1 not found (loaded: 2)")));
  EXPECT_THAT(loaded, ::testing::ElementsAre("alpha/1", "alpha/2"));

  // A failing newer version keeps version 2 serving and is not retried.
  MarkFailing(AddVersion("alpha", 3));
  changed = (*manager)->Refresh();
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(*changed, 0);
  newest = (*manager)->Get("alpha", 0);
  ASSERT_THAT(newest, IsOk());
  EXPECT_EQ((*newest)->version, 2);
}

TEST_F(ModelManagerTest, GetUnknownModelIsNotFound) {
  auto manager = MakeManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_THAT(manager->LoadNewest(), IsOk());
  EXPECT_THAT(manager->Get("nope", 0), StatusIs(absl::StatusCode::kNotFound, HasSubstr("model 'nope' not found")));
}

TEST_F(ModelManagerTest, PollThreadPicksUpNewVersion) {
  AddVersion("alpha", 1);
  ModelManager::Options options;
  options.repository_root = root_.string();
  options.loader = FakeModelLoader();
  options.poll_interval = absl::Milliseconds(10);
  auto manager = ModelManager::Create(options);
  ASSERT_THAT(manager, IsOk());
  ASSERT_THAT((*manager)->LoadNewest(), IsOk());
  AddVersion("alpha", 2);
  // Waits for the poll (bounded so a broken poller fails instead of hanging).
  int64_t version = 0;
  for (int i = 0; i < 1000 && version != 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    auto model = (*manager)->Get("alpha", 0);
    ASSERT_THAT(model, IsOk());
    version = (*model)->version;
  }
  EXPECT_EQ(version, 2);
}

}  // namespace
}  // namespace genailab
