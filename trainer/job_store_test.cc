#include "trainer/job_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) { return std::string(std::getenv("TEST_TMPDIR")) + "/" + name; }

TEST(JobStoreTest, SavedJobsLoadBackInIdOrderAndRewritesReplace) {
  auto store = JobStore::Create(TempDir("store")).value();
  v1::Job second;
  second.set_id("job-000002");
  second.set_state(v1::JOB_STATE_QUEUED);
  v1::Job first;
  first.set_id("job-000001");
  first.set_state(v1::JOB_STATE_RUNNING);
  first.mutable_spec()->set_model_name("pbmc");
  (*first.mutable_metrics())["loss"] = 1.5;
  ASSERT_TRUE(store->Save(second).ok());
  ASSERT_TRUE(store->Save(first).ok());
  first.set_state(v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(store->Save(first).ok());
  // A torn write of an interrupted daemon is ignored.
  std::ofstream(TempDir("store") + "/job-000003.json.tmp") << "{\"id\": \"job-0";

  const std::vector<v1::Job> jobs = JobStore::Create(TempDir("store")).value()->LoadAll().value();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].id(), "job-000001");
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(jobs[0].spec().model_name(), "pbmc");
  EXPECT_EQ(jobs[0].metrics().at("loss"), 1.5);
  EXPECT_EQ(jobs[1].id(), "job-000002");
}

TEST(JobStoreTest, CorruptFileIsDataLossNamingIt) {
  auto store = JobStore::Create(TempDir("corrupt")).value();
  std::ofstream(TempDir("corrupt") + "/job-000001.json") << "{not json";
  absl::StatusOr<std::vector<v1::Job>> jobs = store->LoadAll();
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(jobs.status().message(), HasSubstr("job-000001.json"));
}

TEST(JobStoreTest, RejectsIdsThatAreNotPlainFileNames) {
  auto store = JobStore::Create(TempDir("ids")).value();
  v1::Job job;
  job.set_id("../escape");
  EXPECT_EQ(store->Save(job).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JobStore::Create("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genailab
