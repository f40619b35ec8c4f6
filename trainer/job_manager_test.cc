#include "trainer/job_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "absl/synchronization/notification.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) { return std::string(std::getenv("TEST_TMPDIR")) + "/" + name; }

v1::TrainingJobSpec Spec(const std::string& model) {
  v1::TrainingJobSpec spec;
  spec.set_data_path("/data.h5ad");
  spec.set_model_name(model);
  spec.mutable_training()->set_epochs(2);
  return spec;
}

absl::Status RequireModelName(const v1::TrainingJobSpec& spec) {
  if (spec.model_name().empty()) return absl::InvalidArgumentError("model_name is required");
  return absl::OkStatus();
}

// A runner that reports two epochs and succeeds, publishing version 7.
absl::StatusOr<JobOutcome> SucceedingRun(const v1::Job& job, const JobRunContext& context) {
  for (int epoch = 1; epoch <= 2; ++epoch) {
    v1::JobProgress progress;
    progress.set_epoch(epoch);
    progress.set_epochs(2);
    progress.set_loss(10.0 / epoch);
    context.report_progress(progress);
  }
  JobOutcome outcome;
  outcome.published_version = 7;
  outcome.metrics["loss"] = 5.0;
  return outcome;
}

// Polls until job `id` is in `state` (the workers run asynchronously).
v1::Job AwaitState(const JobManager& manager, const std::string& id, v1::JobState state) {
  for (int i = 0; i < 1000; ++i) {
    v1::Job job = manager.Get(id).value();
    if (job.state() == state) return job;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ADD_FAILURE() << id << " never reached " << JobStateName(state);
  return manager.Get(id).value();
}

TEST(JobManagerTest, SubmitValidatesRunsAndWatchStreamsToTheEnd) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = TrainerMetrics::Create(registry).value();
  JobManager::Options options;
  options.state_directory = TempDir("run");
  options.validate = RequireModelName;
  options.run = SucceedingRun;
  options.metrics = metrics.get();
  auto manager = JobManager::Create(options).value();

  absl::StatusOr<v1::Job> invalid = manager->Submit(Spec(""), "grpc");
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid.status().message(), HasSubstr("model_name"));

  const v1::Job queued = manager->Submit(Spec("pbmc"), "grpc").value();
  EXPECT_EQ(queued.id(), "job-000001");
  EXPECT_EQ(queued.source(), "grpc");
  std::vector<v1::JobProgress> updates;
  ASSERT_TRUE(manager
                  ->Watch(queued.id(),
                          [&updates](const v1::JobProgress& progress) {
                            updates.push_back(progress);
                            return true;
                          },
                          nullptr)
                  .ok());
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(updates.back().epoch(), 2);

  const v1::Job done = manager->Get(queued.id()).value();
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.published_version(), 7);
  EXPECT_EQ(done.metrics().at("loss"), 5.0);
  EXPECT_EQ(done.attempts(), 1);
  EXPECT_FALSE(done.finished_at().empty());
  EXPECT_EQ(manager->Get("job-999999").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager->Cancel(queued.id()).status().code(), absl::StatusCode::kFailedPrecondition);

  const std::string exposition = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_THAT(exposition, HasSubstr("genailab_trainer_jobs{state=\"succeeded\"} 1"));
  EXPECT_THAT(exposition, HasSubstr("genailab_trainer_epoch{job=\"job-000001\"} 2"));
}

TEST(JobManagerTest, RunsOneJobAtATimeAndCancelsQueuedAndRunningJobs) {
  absl::Notification first_started;
  JobManager::Options options;
  options.state_directory = TempDir("cancel");
  options.validate = RequireModelName;
  options.run = [&first_started](const v1::Job& job, const JobRunContext& context) -> absl::StatusOr<JobOutcome> {
    if (!first_started.HasBeenNotified()) first_started.Notify();
    while (!context.cancelled()) absl::SleepFor(absl::Milliseconds(5));
    return absl::CancelledError("stopped");
  };
  auto manager = JobManager::Create(options).value();
  const std::string first = manager->Submit(Spec("a"), "grpc")->id();
  const std::string second = manager->Submit(Spec("b"), "grpc")->id();
  first_started.WaitForNotification();
  EXPECT_EQ(manager->Get(first)->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(manager->Get(second)->state(), v1::JOB_STATE_QUEUED);

  EXPECT_EQ(manager->Cancel(second)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(manager->Cancel(first)->message(), "cancellation requested");
  EXPECT_EQ(AwaitState(*manager, first, v1::JOB_STATE_CANCELLED).state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(manager->List().size(), 2u);
}

TEST(JobManagerTest, FailedRunKeepsItsMessage) {
  JobManager::Options options;
  options.state_directory = TempDir("fail");
  options.validate = RequireModelName;
  options.run = [](const v1::Job&, const JobRunContext&) -> absl::StatusOr<JobOutcome> {
    return absl::NotFoundError("data_path /data.h5ad: no such file");
  };
  auto manager = JobManager::Create(options).value();
  const std::string id = manager->Submit(Spec("a"), "grpc")->id();
  const v1::Job failed = AwaitState(*manager, id, v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.message(), HasSubstr("NOT_FOUND: data_path"));
}

TEST(JobManagerTest, JobsInterruptedByShutdownOrCrashRunAgainAfterARestart) {
  const std::string state = TempDir("restart");
  {
    absl::Notification started;
    JobManager::Options options;
    options.state_directory = state;
    options.validate = RequireModelName;
    options.run = [&started](const v1::Job&, const JobRunContext& context) -> absl::StatusOr<JobOutcome> {
      started.Notify();
      while (!context.cancelled()) absl::SleepFor(absl::Milliseconds(5));
      return absl::CancelledError("stopped");
    };
    auto manager = JobManager::Create(options).value();
    ASSERT_EQ(manager->Submit(Spec("a"), "grpc")->id(), "job-000001");
    started.WaitForNotification();
    manager->Shutdown();
    EXPECT_EQ(manager->Get("job-000001")->state(), v1::JOB_STATE_QUEUED);
  }
  {
    // A daemon killed outright leaves its job RUNNING in the store.
    auto store = JobStore::Create(state + "/jobs").value();
    v1::Job crashed;
    crashed.set_id("job-000002");
    crashed.set_state(v1::JOB_STATE_RUNNING);
    crashed.set_attempts(1);
    *crashed.mutable_spec() = Spec("b");
    ASSERT_TRUE(store->Save(crashed).ok());
  }
  JobManager::Options options;
  options.state_directory = state;
  options.validate = RequireModelName;
  options.run = SucceedingRun;
  auto manager = JobManager::Create(options).value();
  EXPECT_EQ(AwaitState(*manager, "job-000001", v1::JOB_STATE_SUCCEEDED).attempts(), 2);
  EXPECT_EQ(AwaitState(*manager, "job-000002", v1::JOB_STATE_SUCCEEDED).attempts(), 2);
  EXPECT_EQ(manager->Submit(Spec("c"), "grpc")->id(), "job-000003");
}

}  // namespace
}  // namespace genailab
