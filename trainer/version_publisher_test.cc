#include "trainer/version_publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string FreshRoot(const std::string& name) {
  const std::string root = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  fs::remove_all(root);
  return root;
}

absl::Status WriteManifest(const std::string& directory, int64_t version) {
  std::ofstream(directory + "/manifest.json") << "{\"version\": " << version << "}";
  return absl::OkStatus();
}

TEST(VersionPublisherTest, PublishesConsecutiveVersionsAndLeavesNoStaging) {
  const std::string root = FreshRoot("consecutive");
  auto publisher = VersionPublisher::Create({root}).value();
  EXPECT_EQ(publisher->LatestVersion("m").value(), 0);
  const PublishedVersion first = publisher->Publish("m", WriteManifest).value();
  const PublishedVersion second = publisher->Publish("m", WriteManifest).value();
  EXPECT_EQ(first.version, 1);
  EXPECT_EQ(second.version, 2);
  EXPECT_EQ(second.directory, root + "/m/2");
  std::ifstream in(second.directory + "/manifest.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"version\": 2}");
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(root + "/m")) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    ++entries;
  }
  EXPECT_EQ(entries, 2);
}

TEST(VersionPublisherTest, FailedWriteLeavesNothingBehind) {
  const std::string root = FreshRoot("failed");
  auto publisher = VersionPublisher::Create({root}).value();
  const auto result = publisher->Publish("m", [](const std::string& directory, int64_t) {
    std::ofstream(directory + "/partial.bin") << "half";
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(fs::is_empty(root + "/m"));
  EXPECT_EQ(publisher->LatestVersion("m").value(), 0);
}

TEST(VersionPublisherTest, ConcurrentPublishersGetDistinctVersions) {
  const std::string root = FreshRoot("concurrent");
  auto publisher = VersionPublisher::Create({root}).value();
  std::vector<std::thread> threads;
  std::vector<int64_t> versions(6, 0);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] { versions[i] = publisher->Publish("m", WriteManifest).value().version; });
  }
  for (auto& thread : threads) thread.join();
  std::sort(versions.begin(), versions.end());
  EXPECT_EQ(versions, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  for (int64_t v = 1; v <= 6; ++v) {
    std::ifstream in(root + "/m/" + std::to_string(v) + "/manifest.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "{\"version\": " + std::to_string(v) + "}");
  }
}

TEST(VersionPublisherTest, RejectsTraversalInModelName) {
  auto publisher = VersionPublisher::Create({FreshRoot("names")}).value();
  const auto result = publisher->Publish("../escape", WriteManifest);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("model.name"));
  EXPECT_EQ(VersionPublisher::Create({""}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
