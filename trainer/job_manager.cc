#include "trainer/job_manager.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "trainer/device_list.h"

namespace genailab {
namespace {

constexpr char kJobIdPrefix[] = "job-";

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

// The device a job may run on, for DeviceMatches: training.device, narrowed to any CUDA device when it
// leaves the choice open and asks for mixed precision (bfloat16 autocast runs on CUDA only).
std::string DeviceRequest(const v1::TrainingJobSpec& spec) {
  const std::string& device = spec.training().device();
  if (spec.training().mixed_precision() && (device.empty() || device == "auto")) return "cuda";
  return device;
}

}  // namespace

std::string JobStateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED: return "queued";
    case v1::JOB_STATE_RUNNING: return "running";
    case v1::JOB_STATE_SUCCEEDED: return "succeeded";
    case v1::JOB_STATE_GATED: return "gated";
    case v1::JOB_STATE_FAILED: return "failed";
    case v1::JOB_STATE_CANCELLED: return "cancelled";
    default: return "unspecified";
  }
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_GATED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(Options options) {
  if (options.state_directory.empty()) return absl::InvalidArgumentError("state_directory is required");
  if (options.devices.empty()) return absl::InvalidArgumentError("devices: at least one device is required");
  for (size_t i = 0; i < options.devices.size(); ++i) {
    const std::string& device = options.devices[i];
    if (device != "cpu" && !absl::StartsWith(device, "cuda:")) {
      return absl::InvalidArgumentError(absl::StrCat("devices: '", device, "' is not a canonical device name"));
    }
    if (std::find(options.devices.begin(), options.devices.begin() + i, device) != options.devices.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat("devices: ", device, " is listed twice"));
    }
  }
  if (options.jobs_per_device < 1) {
    return absl::InvalidArgumentError(absl::StrCat("jobs_per_device must be >= 1, got ", options.jobs_per_device));
  }
  if (!options.validate) return absl::InvalidArgumentError("validate is required");
  if (!options.run) return absl::InvalidArgumentError("run is required");
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<JobStore> store, JobStore::Create(options.state_directory + "/jobs"));
  GENAILAB_ASSIGN_OR_RETURN(std::vector<v1::Job> jobs, store->LoadAll());
  std::unique_ptr<JobManager> manager(new JobManager(std::move(options), std::move(store)));
  {
    absl::MutexLock lock(&manager->mu_);
    for (v1::Job& job : jobs) {
      if (job.state() == v1::JOB_STATE_RUNNING) {
        // The daemon died under it: run it again; the runner resumes from the job's folder.
        job.set_state(v1::JOB_STATE_QUEUED);
        job.set_message("interrupted by a restart; resumes from its last checkpoint");
        job.clear_device();
        job.mutable_progress()->set_state(v1::JOB_STATE_QUEUED);
        job.mutable_progress()->clear_device();
        manager->PersistLocked(job);
      }
      if (job.state() == v1::JOB_STATE_QUEUED) {
        // The daemon may have restarted with other devices: a job none of them can run would wait forever.
        if (absl::Status device = manager->CheckDevice(job.spec()); !device.ok()) {
          job.set_state(v1::JOB_STATE_FAILED);
          job.set_message(device.ToString());
          job.set_finished_at(NowRfc3339());
          job.mutable_progress()->set_state(v1::JOB_STATE_FAILED);
          manager->PersistLocked(job);
        }
      }
      int64_t sequence = 0;
      absl::string_view digits = job.id();
      if (absl::ConsumePrefix(&digits, kJobIdPrefix) && absl::SimpleAtoi(digits, &sequence)) {
        manager->next_sequence_ = std::max(manager->next_sequence_, sequence + 1);
      }
      manager->changes_[job.id()] = 0;
      manager->jobs_[job.id()] = std::move(job);
    }
    manager->ChangedLocked("");
  }
  for (const std::string& device : manager->options_.devices) {
    for (int i = 0; i < manager->options_.jobs_per_device; ++i) {
      manager->workers_.emplace_back([raw = manager.get(), device] { raw->WorkerLoop(device); });
    }
  }
  return manager;
}

JobManager::JobManager(Options options, std::unique_ptr<JobStore> store)
    : options_(std::move(options)), store_(std::move(store)) {}

JobManager::~JobManager() { Shutdown(); }

void JobManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

std::string JobManager::JobDirectory(const std::string& id) const {
  return absl::StrCat(options_.state_directory, "/work/", id);
}

absl::Status JobManager::CheckDevice(const v1::TrainingJobSpec& spec) const {
  const std::string& requested = spec.training().device();
  if (spec.training().mixed_precision() && requested == "cpu") {
    return absl::InvalidArgumentError(
        "training.mixed_precision: bfloat16 autocast runs on CUDA only, but training.device is cpu");
  }
  for (const std::string& device : options_.devices) {
    if (DeviceMatches(DeviceRequest(spec), device)) return absl::OkStatus();
  }
  if (DeviceRequest(spec) != requested) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.mixed_precision: bfloat16 autocast runs on CUDA only, and this trainer has no CUDA device "
        "(its devices: ",
        absl::StrJoin(options_.devices, ", "), ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat("training.device: '", requested,
                                                 "' is not a device of this trainer (its devices: ",
                                                 absl::StrJoin(options_.devices, ", "), ")"));
}

absl::StatusOr<v1::Job> JobManager::Submit(const v1::TrainingJobSpec& spec, const std::string& source) {
  GENAILAB_RETURN_IF_ERROR(CheckDevice(spec));
  GENAILAB_RETURN_IF_ERROR(options_.validate(spec));
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("the trainer is shutting down");
  v1::Job job;
  job.set_id(absl::StrFormat("%s%06d", kJobIdPrefix, next_sequence_));
  *job.mutable_spec() = spec;
  job.set_state(v1::JOB_STATE_QUEUED);
  job.set_source(source);
  job.set_submitted_at(NowRfc3339());
  job.set_job_directory(JobDirectory(job.id()));
  job.mutable_progress()->set_job_id(job.id());
  job.mutable_progress()->set_state(v1::JOB_STATE_QUEUED);
  job.mutable_progress()->set_epochs(spec.training().has_epochs() ? spec.training().epochs() : 0);
  GENAILAB_RETURN_IF_ERROR(store_->Save(job));
  ++next_sequence_;
  jobs_[job.id()] = job;
  ChangedLocked(job.id());
  spdlog::info("queued {} ({}) for model {}", job.id(), source, spec.model_name());
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  const auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job_id '", job_id, "' is not a known job"));
  return it->second;
}

std::vector<v1::Job> JobManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Job> jobs;
  for (const auto& [id, job] : jobs_) jobs.push_back(job);
  return jobs;
}

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  const auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job_id '", job_id, "' is not a known job"));
  v1::Job& job = it->second;
  if (IsTerminal(job.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " already finished (", JobStateName(job.state()), ")"));
  }
  cancel_requested_.insert(job_id);
  if (job.state() == v1::JOB_STATE_QUEUED) {
    job.set_state(v1::JOB_STATE_CANCELLED);
    job.set_message("cancelled before it started");
    job.set_finished_at(NowRfc3339());
    job.mutable_progress()->set_state(v1::JOB_STATE_CANCELLED);
  } else {
    job.set_message("cancellation requested");
  }
  PersistLocked(job);
  ChangedLocked(job_id);
  return job;
}

absl::Status JobManager::Watch(const std::string& job_id, const std::function<bool(const v1::JobProgress&)>& send,
                               const std::function<bool()>& stop) const {
  int64_t seen = -1;
  while (true) {
    v1::JobProgress progress;
    {
      absl::MutexLock lock(&mu_);
      const auto it = jobs_.find(job_id);
      if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job_id '", job_id, "' is not a known job"));
      const auto changed = [this, &job_id, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutting_down_ || changes_.at(job_id) != seen;
      };
      mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Seconds(1));
      if (changes_.at(job_id) == seen) {
        if (shutting_down_) return absl::UnavailableError("the trainer is shutting down");
        if (stop && stop()) return absl::CancelledError("watch cancelled by the client");
        continue;
      }
      seen = changes_.at(job_id);
      progress = it->second.progress();
    }
    if (!send(progress)) return absl::CancelledError("watch cancelled by the client");
    if (IsTerminal(progress.state())) return absl::OkStatus();
  }
}

v1::Job* JobManager::NextJobForLocked(const std::string& device) {
  // jobs_ is ordered by id, i.e. by submission.
  for (auto& [id, job] : jobs_) {
    if (job.state() == v1::JOB_STATE_QUEUED && DeviceMatches(DeviceRequest(job.spec()), device)) return &job;
  }
  return nullptr;
}

void JobManager::WorkerLoop(const std::string& device) {
  while (true) {
    std::string id;
    {
      absl::MutexLock lock(&mu_);
      const auto ready = [this, &device]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutting_down_ || NextJobForLocked(device) != nullptr;
      };
      mu_.Await(absl::Condition(&ready));
      if (shutting_down_) return;
      v1::Job& job = *NextJobForLocked(device);
      id = job.id();
      job.set_state(v1::JOB_STATE_RUNNING);
      job.set_started_at(NowRfc3339());
      job.set_attempts(job.attempts() + 1);
      job.set_device(device);
      job.mutable_progress()->set_state(v1::JOB_STATE_RUNNING);
      job.mutable_progress()->set_device(device);
      PersistLocked(job);
      ChangedLocked(id);
    }
    RunJob(id);
  }
}

void JobManager::RunJob(const std::string& id) {
  v1::Job job;
  {
    absl::MutexLock lock(&mu_);
    job = jobs_.at(id);
  }
  JobRunContext context;
  context.job_directory = JobDirectory(id);
  std::error_code error;
  std::filesystem::create_directories(context.job_directory, error);
  context.cancelled = [this, id] {
    absl::MutexLock lock(&mu_);
    return shutting_down_ || cancel_requested_.count(id) > 0;
  };
  context.report_progress = [this, id](const v1::JobProgress& update) {
    absl::MutexLock lock(&mu_);
    v1::Job& running = jobs_.at(id);
    *running.mutable_progress() = update;
    running.mutable_progress()->set_job_id(id);
    running.mutable_progress()->set_state(running.state());
    running.mutable_progress()->set_device(running.device());
    PersistLocked(running);
    ChangedLocked(id);
    if (options_.metrics != nullptr) {
      options_.metrics->RecordEpoch(id, update.epoch(), update.loss(), update.validation_loss(),
                                    update.cells_per_second());
    }
  };
  spdlog::info("running {} on {} (attempt {})", id, job.device(), job.attempts());
  absl::StatusOr<JobOutcome> outcome =
      error ? absl::StatusOr<JobOutcome>(absl::InternalError(
                  absl::StrCat("cannot create ", context.job_directory, ": ", error.message())))
            : options_.run(job, context);

  absl::MutexLock lock(&mu_);
  v1::Job& done = jobs_.at(id);
  const bool interrupted_by_shutdown = !outcome.ok() && outcome.status().code() == absl::StatusCode::kCancelled &&
                                       shutting_down_ && cancel_requested_.count(id) == 0;
  if (interrupted_by_shutdown) {
    // Left for the next start, which resumes it from its checkpoint.
    done.set_state(v1::JOB_STATE_QUEUED);
    done.set_message("interrupted by a shutdown; resumes from its last checkpoint");
    done.clear_device();
    done.mutable_progress()->clear_device();
  } else if (!outcome.ok()) {
    const bool cancelled = outcome.status().code() == absl::StatusCode::kCancelled;
    done.set_state(cancelled ? v1::JOB_STATE_CANCELLED : v1::JOB_STATE_FAILED);
    done.set_message(outcome.status().ToString());
    if (!cancelled && options_.metrics != nullptr) options_.metrics->RecordPublishFailure();
  } else {
    done.set_state(outcome->state);
    done.set_message(outcome->message);
    done.set_published_version(outcome->published_version);
    done.set_published_directory(outcome->published_directory);
    done.mutable_metrics()->clear();
    for (const auto& [name, value] : outcome->metrics) (*done.mutable_metrics())[name] = value;
    if (outcome->state == v1::JOB_STATE_GATED && options_.metrics != nullptr) options_.metrics->RecordGated();
  }
  if (IsTerminal(done.state())) done.set_finished_at(NowRfc3339());
  done.mutable_progress()->set_state(done.state());
  if (IsTerminal(done.state())) done.mutable_progress()->set_eta_seconds(0);
  PersistLocked(done);
  ChangedLocked(id);
  spdlog::info("{} {}{}", id, JobStateName(done.state()), done.message().empty() ? "" : ": " + done.message());
}

void JobManager::PersistLocked(const v1::Job& job) {
  if (absl::Status saved = store_->Save(job); !saved.ok()) {
    spdlog::error("cannot persist job {}: {}", job.id(), saved.ToString());
  }
}

void JobManager::ChangedLocked(const std::string& id) {
  if (!id.empty()) ++changes_[id];
  if (options_.metrics == nullptr) return;
  std::map<std::string, int> counts;
  for (const auto& [job_id, job] : jobs_) ++counts[JobStateName(job.state())];
  options_.metrics->SetJobCounts(counts);
}

}  // namespace genailab
