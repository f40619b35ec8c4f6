#include "server/core/model_manager.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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
    root_ = FreshTestRepository();
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

TEST(VersionPolicyTest, ParsesLatestAndSpecific) {
  auto latest = ParseVersionPolicy("latest:2");
  ASSERT_THAT(latest, IsOk());
  EXPECT_EQ(latest->latest, 2);
  EXPECT_TRUE(latest->specific.empty());
  auto specific = ParseVersionPolicy("specific:3,1");
  ASSERT_THAT(specific, IsOk());
  EXPECT_THAT(specific->specific, ::testing::ElementsAre(1, 3));
  EXPECT_THAT(ParseVersionPolicy("latest:0"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latest:N")));
  EXPECT_THAT(ParseVersionPolicy("specific:x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'x' is not a positive version")));
  EXPECT_THAT(ParseVersionPolicy("newest"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'newest'")));
}

TEST(VersionPolicyTest, ParsesPolicyFiles) {
  VersionPolicy default_policy;
  std::map<std::string, VersionPolicy> policies;
  ASSERT_THAT(ParseVersionPolicyFile("# comment\n\n*  latest:2\npbmc specific:4,5\n", &default_policy, &policies),
              IsOk());
  EXPECT_EQ(default_policy.latest, 2);
  ASSERT_EQ(policies.count("pbmc"), 1u);
  EXPECT_THAT(policies["pbmc"].specific, ::testing::ElementsAre(4, 5));
  EXPECT_THAT(ParseVersionPolicyFile("pbmc\n", &default_policy, &policies),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1: expected '<model> <policy>'")));
  EXPECT_THAT(ParseVersionPolicyFile("ok latest:1\n../x latest:1\n", &default_policy, &policies),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
}

// State of every version, e.g. {"1:AVAILABLE", "2:FAILED"}.
std::vector<std::string> States(const ModelManager& manager, const std::string& name) {
  static const char* const kNames[] = {"LOADING", "AVAILABLE", "DRAINING", "UNLOADED", "FAILED"};
  std::vector<std::string> states;
  for (const VersionInfo& info : manager.Versions(name)) {
    states.push_back(std::to_string(info.version) + ":" + kNames[static_cast<int>(info.state)]);
  }
  return states;
}

TEST_F(ModelManagerTest, VersionPoliciesChooseWhatIsServed) {
  for (int v = 1; v <= 4; ++v) {
    AddVersion("alpha", v);
    AddVersion("beta", v);
  }
  ModelManager::Options options;
  options.repository_root = root_.string();
  options.loader = FakeModelLoader();
  options.default_policy.latest = 2;
  options.policies["beta"].specific = {1, 3};
  auto manager = ModelManager::Create(options);
  ASSERT_THAT(manager, IsOk());
  ASSERT_THAT((*manager)->LoadNewest(), IsOk());
  EXPECT_THAT((*manager)->ServedVersions("alpha"), ::testing::ElementsAre(3, 4));
  EXPECT_THAT((*manager)->ServedVersions("beta"), ::testing::ElementsAre(1, 3));
  // Clients pin a version or take the newest.
  auto pinned = (*manager)->Get("beta", 1);
  ASSERT_THAT(pinned, IsOk());
  EXPECT_EQ((*pinned)->version, 1);
  auto newest = (*manager)->Get("beta", 0);
  ASSERT_THAT(newest, IsOk());
  EXPECT_EQ((*newest)->version, 3);
  EXPECT_THAT((*manager)->Get("beta", 2),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 2 not found (loaded: 1, 3)")));
  options.default_policy.latest = 0;
  EXPECT_THAT(ModelManager::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latest")));
}

TEST_F(ModelManagerTest, RetiredVersionDrainsThenUnloadsAndFailuresAreReported) {
  AddVersion("alpha", 1);
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_THAT(metrics, IsOk());
  auto manager = MakeManager(metrics->get());
  ASSERT_NE(manager, nullptr);
  ASSERT_THAT(manager->LoadNewest(), IsOk());
  auto running = manager->Get("alpha", 0);  // a request still running on version 1
  ASSERT_THAT(running, IsOk());

  MarkFailing(AddVersion("alpha", 2));
  AddVersion("alpha", 3);
  ASSERT_THAT(manager->Refresh(), IsOk());
  EXPECT_THAT(States(*manager, "alpha"), ::testing::ElementsAre("1:DRAINING", "3:AVAILABLE"));
  running->reset();  // the request finishes
  EXPECT_THAT(States(*manager, "alpha"), ::testing::ElementsAre("1:UNLOADED", "3:AVAILABLE"));

  // Version 4 fails: version 3 keeps serving and GetModel-style reporting names the error.
  MarkFailing(AddVersion("alpha", 4));
  ASSERT_THAT(manager->Refresh(), IsOk());
  EXPECT_THAT(States(*manager, "alpha"), ::testing::ElementsAre("1:UNLOADED", "3:AVAILABLE", "4:FAILED"));
  EXPECT_THAT(manager->Versions("alpha").back().error, HasSubstr("marked FAIL"));
  auto served = manager->Get("alpha", 0);
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ((*served)->version, 3);

  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_loads_total{model="alpha"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_unloads_total{model="alpha"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_load_failures_total{model="alpha"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_served_version{model="alpha"} 3)"));
}

TEST_F(ModelManagerTest, LoadModelAndUnloadModel) {
  AddVersion("alpha", 1);
  AddVersion("alpha", 2);
  auto manager = MakeManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_THAT(manager->LoadNewest(), IsOk());
  EXPECT_THAT(manager->ServedVersions("alpha"), ::testing::ElementsAre(2));
  // An explicit load of an older version serves it next to the policy's.
  auto loaded = manager->LoadModel("alpha", 1);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*loaded)->version, 1);
  ASSERT_THAT(manager->Refresh(), IsOk());
  EXPECT_THAT(manager->ServedVersions("alpha"), ::testing::ElementsAre(1, 2));
  EXPECT_THAT(manager->LoadModel("alpha", 9), StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 9")));
  EXPECT_THAT(manager->LoadModel("../etc", 0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("../etc")));
  MarkFailing(AddVersion("alpha", 3));
  EXPECT_THAT(manager->LoadModel("alpha", 3), StatusIs(absl::StatusCode::kInternal, HasSubstr("marked FAIL")));

  // Unloading version 2 keeps polling from bringing it (or an older one) back.
  ASSERT_THAT(manager->UnloadModel("alpha", 2), IsOk());
  ASSERT_THAT(manager->Refresh(), IsOk());
  EXPECT_THAT(manager->ServedVersions("alpha"), ::testing::ElementsAre(1));
  EXPECT_THAT(manager->UnloadModel("alpha", 2),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 2 is not served (loaded: 1)")));
  // Unloading every version takes the model out of service.
  ASSERT_THAT(manager->UnloadModel("alpha", 0), IsOk());
  ASSERT_THAT(manager->Refresh(), IsOk());
  EXPECT_THAT(manager->Get("alpha", 0), StatusIs(absl::StatusCode::kNotFound, HasSubstr("'alpha' not found")));
  EXPECT_THAT(manager->UnloadModel("alpha", 0), StatusIs(absl::StatusCode::kNotFound, HasSubstr("not served")));
  // ... until LoadModel names a version again.
  ASSERT_THAT(manager->LoadModel("alpha", 2), IsOk());
  EXPECT_THAT(manager->ServedVersions("alpha"), ::testing::ElementsAre(2));
}

TEST_F(ModelManagerTest, ReportsWhenAModelLosesItsLastServedVersionAndWhenItReturns) {
  AddVersion("alpha", 1);
  AddVersion("alpha", 2);
  AddVersion("beta", 1);
  absl::Mutex mu;
  std::vector<std::string> events;  // "+alpha:2" loaded, "-alpha" unavailable
  ModelManager::Options options;
  options.repository_root = root_.string();
  options.device = "cpu";
  options.loader = FakeModelLoader();
  options.on_model_loaded = [&](const ServableModel& model) {
    absl::MutexLock lock(&mu);
    events.push_back(absl::StrCat("+", model.name, ":", model.version));
  };
  options.on_model_unavailable = [&](const std::string& model) {
    absl::MutexLock lock(&mu);
    events.push_back(absl::StrCat("-", model));
  };
  auto manager = ModelManager::Create(std::move(options));
  ASSERT_THAT(manager, IsOk());
  ASSERT_THAT((*manager)->LoadNewest(), IsOk());
  ASSERT_THAT((*manager)->LoadModel("alpha", 1), IsOk());
  // Retiring one of two served versions leaves the model available.
  ASSERT_THAT((*manager)->UnloadModel("alpha", 2), IsOk());
  ASSERT_THAT((*manager)->Refresh(), IsOk());
  // The last one makes it unavailable; beta is untouched.
  ASSERT_THAT((*manager)->UnloadModel("alpha", 1), IsOk());
  ASSERT_THAT((*manager)->Refresh(), IsOk());
  ASSERT_THAT((*manager)->LoadModel("alpha", 0), IsOk());
  ASSERT_THAT((*manager)->UnloadModel("alpha", 0), IsOk());
  absl::MutexLock lock(&mu);
  EXPECT_THAT(events, ::testing::ElementsAre("+alpha:2", "+beta:1", "+alpha:1", "-alpha", "+alpha:2", "-alpha"));
}

}  // namespace
}  // namespace genailab
