#include "trainer/spool_watcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(SpoolWatcherTest, SubmitsValidFilesAndRejectsInvalidOnesWithTheirError) {
  const std::string spool = std::string(std::getenv("TEST_TMPDIR")) + "/spool";
  std::vector<std::string> submitted;
  SpoolWatcher::Options options;
  options.directory = spool;
  options.poll_in_background = false;  // the test polls by hand: no thread races it for the files
  options.settle_time = absl::ZeroDuration();  // files are complete when written
  options.submit = [&submitted](const v1::TrainingJobSpec& spec,
                                const std::string& source) -> absl::StatusOr<std::string> {
    if (spec.model_name().empty()) return absl::InvalidArgumentError("model_name is required");
    submitted.push_back(spec.model_name() + " from " + source);
    return "job-00000" + std::to_string(submitted.size());
  };
  auto watcher = SpoolWatcher::Start(options).value();
  EXPECT_EQ(watcher->PollOnce(), 0);

  std::ofstream(spool + "/a.json") << R"({"data_path": "/d.h5ad", "model_name": "first"})";
  std::ofstream(spool + "/b.json") << R"({"data_path": "/d.h5ad"})";
  std::ofstream(spool + "/c.json") << R"({"data_path": "/d.h5ad", "epochs": 3})";
  std::ofstream(spool + "/d.yaml") << "data_path: /d.h5ad\nmodel_name: fourth\n";
  std::ofstream(spool + "/.d.json") << R"({"model_name": "still being written"})";
  std::ofstream(spool + "/notes.txt") << "not a job";
  EXPECT_EQ(watcher->PollOnce(), 4);

  EXPECT_THAT(submitted, ElementsAre("first from spool:a.json", "fourth from spool:d.yaml"));
  EXPECT_EQ(ReadFile(spool + "/accepted/a.json.job"), "job-000001\n");
  EXPECT_TRUE(std::filesystem::exists(spool + "/accepted/a.json"));
  EXPECT_THAT(ReadFile(spool + "/rejected/b.json.error"), HasSubstr("INVALID_ARGUMENT: model_name is required"));
  EXPECT_THAT(ReadFile(spool + "/rejected/c.json.error"), HasSubstr("epochs"));
  EXPECT_FALSE(std::filesystem::exists(spool + "/a.json"));
  EXPECT_TRUE(std::filesystem::exists(spool + "/.d.json"));
  EXPECT_TRUE(std::filesystem::exists(spool + "/notes.txt"));
  EXPECT_EQ(watcher->PollOnce(), 0);
  watcher->Stop();
}

TEST(SpoolWatcherTest, AFileStillBeingWrittenIsLeftForALaterPollNotRejected) {
  const std::string spool = std::string(std::getenv("TEST_TMPDIR")) + "/spool_settle";
  std::vector<std::string> submitted;
  SpoolWatcher::Options options;
  options.directory = spool;
  options.poll_in_background = false;
  options.settle_time = absl::Hours(1);  // every file written by this test is "still being written"
  options.submit = [&submitted](const v1::TrainingJobSpec& spec,
                                const std::string&) -> absl::StatusOr<std::string> {
    submitted.push_back(spec.model_name());
    return "job-000001";
  };
  auto watcher = SpoolWatcher::Start(options).value();
  // Half of a job file, as a copy in progress leaves it.
  std::ofstream(spool + "/job.json") << R"({"data_path": "/d.h5ad", "model_na)";
  EXPECT_EQ(watcher->PollOnce(), 0);
  EXPECT_TRUE(std::filesystem::exists(spool + "/job.json"));
  EXPECT_FALSE(std::filesystem::exists(spool + "/rejected/job.json.error"));

  // The copy finishes, and the file has been still long enough.
  std::ofstream(spool + "/job.json") << R"({"data_path": "/d.h5ad", "model_name": "settled"})";
  std::filesystem::last_write_time(spool + "/job.json",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  EXPECT_EQ(watcher->PollOnce(), 1);
  EXPECT_THAT(submitted, ElementsAre("settled"));
  EXPECT_EQ(ReadFile(spool + "/accepted/job.json.job"), "job-000001\n");
  watcher->Stop();

  options.settle_time = -absl::Seconds(1);
  EXPECT_EQ(SpoolWatcher::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpoolWatcherTest, MissingOptionsAreInvalidArgument) {
  SpoolWatcher::Options options;
  options.directory = std::string(std::getenv("TEST_TMPDIR")) + "/unused";
  EXPECT_EQ(SpoolWatcher::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
