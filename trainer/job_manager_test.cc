#include "trainer/job_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "absl/synchronization/mutex.h"
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
  EXPECT_THAT(exposition, HasSubstr("genailab_trainer_epoch{job_id=\"job-000001\"} 2"));
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

// A runner that blocks each job until the test releases it, and records where and how many jobs ran at once.
class GatedRunner {
 public:
  JobRunner AsRunner() {
    return [this](const v1::Job& job, const JobRunContext& context) -> absl::StatusOr<JobOutcome> {
      {
        absl::MutexLock lock(&mu_);
        started_.push_back(job.id());
        devices_[job.id()] = job.device();
        max_running_[job.device()] = std::max(max_running_[job.device()], ++running_[job.device()]);
      }
      {
        absl::MutexLock lock(&mu_);
        const auto released = [this, &job]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return released_.count(job.id()) > 0;
        };
        // Cancellation lives behind the manager's mutex, which does not wake this one: poll it.
        while (!mu_.AwaitWithTimeout(absl::Condition(&released), absl::Milliseconds(5)) && !context.cancelled()) {
        }
        --running_[job.device()];
      }
      if (context.cancelled()) return absl::CancelledError("stopped");
      return JobOutcome();
    };
  }
  void Release(const std::string& id) {
    absl::MutexLock lock(&mu_);
    released_.insert(id);
  }
  // Waits until `count` jobs have started; returns their ids in start order.
  std::vector<std::string> AwaitStarted(size_t count) {
    absl::MutexLock lock(&mu_);
    const auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return started_.size() >= count; };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30))) << count << " never started";
    return started_;
  }
  std::vector<std::string> started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  std::string device_of(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return devices_[id];
  }
  int max_running(const std::string& device) {
    absl::MutexLock lock(&mu_);
    return max_running_[device];
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> devices_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> max_running_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> released_ ABSL_GUARDED_BY(mu_);
};

v1::TrainingJobSpec SpecOn(const std::string& model, const std::string& device) {
  v1::TrainingJobSpec spec = Spec(model);
  spec.mutable_training()->set_device(device);
  return spec;
}

TEST(JobManagerTest, TwoDevicesRunTwoJobsAtOnceAndRecordTheirDevice) {
  GatedRunner runner;
  JobManager::Options options;
  options.state_directory = TempDir("two_devices");
  options.devices = {"cpu", "cuda:0"};
  options.validate = RequireModelName;
  options.run = runner.AsRunner();
  auto manager = JobManager::Create(options).value();
  const std::string first = manager->Submit(Spec("a"), "grpc")->id();
  const std::string second = manager->Submit(SpecOn("b", "auto"), "grpc")->id();
  const std::string third = manager->Submit(Spec("c"), "grpc")->id();
  // Both devices take a job while neither has finished: the two run at the same time.
  runner.AwaitStarted(2);
  const v1::Job running_first = AwaitState(*manager, first, v1::JOB_STATE_RUNNING);
  const v1::Job running_second = AwaitState(*manager, second, v1::JOB_STATE_RUNNING);
  EXPECT_NE(running_first.device(), running_second.device());
  EXPECT_EQ(running_first.device(), runner.device_of(first));
  EXPECT_EQ(running_first.progress().device(), running_first.device());
  EXPECT_EQ(manager->Get(third)->state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(manager->Get(third)->device(), "");

  // The third job takes the slot that frees up first.
  runner.Release(second);
  runner.AwaitStarted(3);
  EXPECT_EQ(AwaitState(*manager, third, v1::JOB_STATE_RUNNING).device(), running_second.device());
  runner.Release(first);
  runner.Release(third);
  EXPECT_EQ(AwaitState(*manager, third, v1::JOB_STATE_SUCCEEDED).device(), running_second.device());
  EXPECT_EQ(AwaitState(*manager, first, v1::JOB_STATE_SUCCEEDED).progress().device(), running_first.device());
}

TEST(JobManagerTest, JobsPinnedToOneDeviceRunOneAtATimeInSubmissionOrder) {
  GatedRunner runner;
  JobManager::Options options;
  options.state_directory = TempDir("pinned");
  options.devices = {"cpu", "cuda:0", "cuda:1"};
  options.validate = RequireModelName;
  options.run = runner.AsRunner();
  auto manager = JobManager::Create(options).value();
  std::vector<std::string> ids;
  for (const char* model : {"a", "b", "c"}) ids.push_back(manager->Submit(SpecOn(model, "cuda:1"), "grpc")->id());
  // A later job that may run anywhere does not wait behind them.
  const std::string anywhere = manager->Submit(Spec("d"), "grpc")->id();
  AwaitState(*manager, anywhere, v1::JOB_STATE_RUNNING);
  runner.Release(anywhere);

  for (size_t i = 0; i < ids.size(); ++i) {
    runner.AwaitStarted(i + 2);
    EXPECT_EQ(AwaitState(*manager, ids[i], v1::JOB_STATE_RUNNING).device(), "cuda:1");
    for (size_t later = i + 1; later < ids.size(); ++later) {
      EXPECT_EQ(manager->Get(ids[later])->state(), v1::JOB_STATE_QUEUED) << ids[later];
    }
    runner.Release(ids[i]);
    AwaitState(*manager, ids[i], v1::JOB_STATE_SUCCEEDED);
  }
  EXPECT_EQ(runner.max_running("cuda:1"), 1);
  std::vector<std::string> pinned_order;
  for (const std::string& id : runner.started()) {
    if (id != anywhere) pinned_order.push_back(id);
  }
  EXPECT_EQ(pinned_order, ids);
  EXPECT_NE(runner.device_of(anywhere), "cuda:1");
}

TEST(JobManagerTest, SeveralJobsPerDeviceShareIt) {
  GatedRunner runner;
  JobManager::Options options;
  options.state_directory = TempDir("shared_device");
  options.jobs_per_device = 2;
  options.validate = RequireModelName;
  options.run = runner.AsRunner();
  auto manager = JobManager::Create(options).value();
  const std::string first = manager->Submit(Spec("a"), "grpc")->id();
  const std::string second = manager->Submit(Spec("b"), "grpc")->id();
  const std::string third = manager->Submit(Spec("c"), "grpc")->id();
  runner.AwaitStarted(2);
  EXPECT_EQ(AwaitState(*manager, second, v1::JOB_STATE_RUNNING).device(), "cpu");
  EXPECT_EQ(manager->Get(third)->state(), v1::JOB_STATE_QUEUED);
  for (const std::string& id : {first, second, third}) runner.Release(id);
  AwaitState(*manager, third, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(runner.max_running("cpu"), 2);
}

TEST(JobManagerTest, RefusesDevicesItDoesNotHaveAndBadDeviceOptions) {
  JobManager::Options options;
  options.state_directory = TempDir("refuse");
  options.devices = {"cpu", "cuda:0"};
  options.validate = RequireModelName;
  options.run = SucceedingRun;
  auto manager = JobManager::Create(options).value();
  absl::StatusOr<v1::Job> missing = manager->Submit(SpecOn("a", "cuda:1"), "grpc");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("training.device: 'cuda:1' is not a device of this trainer (its devices: cpu, cuda:0)"));
  EXPECT_TRUE(manager->List().empty());
  EXPECT_TRUE(manager->Submit(SpecOn("b", "cuda"), "grpc").ok());

  // Mixed precision is CUDA only: refused on cpu, and a job that names no device waits for a GPU.
  v1::TrainingJobSpec mixed_on_cpu = SpecOn("c", "cpu");
  mixed_on_cpu.mutable_training()->set_mixed_precision(true);
  EXPECT_THAT(manager->Submit(mixed_on_cpu, "grpc").status().message(),
              HasSubstr("training.mixed_precision: bfloat16 autocast runs on CUDA only, but training.device is cpu"));
  v1::TrainingJobSpec mixed = Spec("d");
  mixed.mutable_training()->set_mixed_precision(true);
  EXPECT_EQ(AwaitState(*manager, manager->Submit(mixed, "grpc")->id(), v1::JOB_STATE_SUCCEEDED).device(), "cuda:0");
  JobManager::Options cpu_only = options;
  cpu_only.state_directory = TempDir("refuse_cpu_only");
  cpu_only.devices = {"cpu"};
  auto cpu_manager = JobManager::Create(cpu_only).value();
  absl::StatusOr<v1::Job> no_gpu = cpu_manager->Submit(mixed, "grpc");
  EXPECT_EQ(no_gpu.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_gpu.status().message(), HasSubstr("this trainer has no CUDA device (its devices: cpu)"));

  for (const std::vector<std::string>& devices :
       std::vector<std::vector<std::string>>{{}, {"gpu"}, {"cpu", "cpu"}}) {
    JobManager::Options bad = options;
    bad.state_directory = TempDir("refuse_bad");
    bad.devices = devices;
    EXPECT_THAT(JobManager::Create(bad).status().message(), HasSubstr("devices:"));
  }
  JobManager::Options no_slots = options;
  no_slots.state_directory = TempDir("refuse_bad");
  no_slots.jobs_per_device = 0;
  EXPECT_THAT(JobManager::Create(no_slots).status().message(), HasSubstr("jobs_per_device must be >= 1"));
}

TEST(JobManagerTest, ARestartRequeuesOnItsDevicesAndFailsJobsForDevicesItNoLongerHas) {
  const std::string state = TempDir("restart_devices");
  {
    GatedRunner runner;
    JobManager::Options options;
    options.state_directory = state;
    options.devices = {"cpu", "cuda:0"};
    options.validate = RequireModelName;
    options.run = runner.AsRunner();
    auto manager = JobManager::Create(options).value();
    ASSERT_EQ(manager->Submit(SpecOn("a", "cuda:0"), "grpc")->id(), "job-000001");
    ASSERT_EQ(manager->Submit(SpecOn("b", "cuda:0"), "grpc")->id(), "job-000002");
    ASSERT_EQ(manager->Submit(SpecOn("c", "cpu"), "grpc")->id(), "job-000003");
    runner.AwaitStarted(2);
    EXPECT_EQ(AwaitState(*manager, "job-000001", v1::JOB_STATE_RUNNING).device(), "cuda:0");
    manager->Shutdown();
    const v1::Job requeued = manager->Get("job-000001").value();
    EXPECT_EQ(requeued.state(), v1::JOB_STATE_QUEUED);
    EXPECT_EQ(requeued.device(), "");
  }
  // Restarted with cpu and two GPUs: the cuda:0 jobs run again, one at a time and in order, on cuda:0.
  GatedRunner runner;
  JobManager::Options options;
  options.state_directory = state;
  options.devices = {"cuda:1", "cuda:0"};
  options.validate = RequireModelName;
  options.run = runner.AsRunner();
  auto manager = JobManager::Create(options).value();
  const v1::Job orphan = manager->Get("job-000003").value();
  EXPECT_EQ(orphan.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(orphan.message(), HasSubstr("training.device: 'cpu' is not a device of this trainer"));
  EXPECT_EQ(runner.AwaitStarted(1), std::vector<std::string>{"job-000001"});
  const v1::Job again = AwaitState(*manager, "job-000001", v1::JOB_STATE_RUNNING);
  EXPECT_EQ(again.device(), "cuda:0");
  EXPECT_EQ(again.attempts(), 2);
  EXPECT_EQ(manager->Get("job-000002")->state(), v1::JOB_STATE_QUEUED);
  runner.Release("job-000001");
  EXPECT_EQ(runner.AwaitStarted(2), (std::vector<std::string>{"job-000001", "job-000002"}));
  runner.Release("job-000002");
  EXPECT_EQ(AwaitState(*manager, "job-000002", v1::JOB_STATE_SUCCEEDED).device(), "cuda:0");
  EXPECT_EQ(runner.max_running("cuda:0"), 1);
  EXPECT_EQ(runner.max_running("cuda:1"), 0);
}

}  // namespace
}  // namespace genailab
