#include "trainer/trainer_daemon.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/http/metrics_endpoint.h"
#include "common/status_macros.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/registry.h"
#include "torch/cuda.h"
#include "trainer/device_list.h"
#include "trainer/job_manager.h"
#include "trainer/spool_watcher.h"
#include "trainer/trainer_metrics.h"
#include "trainer/trainer_service.h"
#include "trainer/training_job_runner.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<TrainerDaemon>> TrainerDaemon::Create(Options options) {
  if (options.state_directory.empty()) return absl::InvalidArgumentError("state_directory is required");
  if (options.repository.empty()) return absl::InvalidArgumentError("repository is required");
  std::unique_ptr<TrainerDaemon> daemon(new TrainerDaemon(std::move(options)));
  const Options& o = daemon->options_;

  // First: a bad security option should stop the daemon before it picks up any job.
  GENAILAB_ASSIGN_OR_RETURN(daemon->security_, ServerSecurity::Create(o.security));
  daemon->registry_ = std::make_shared<prometheus::Registry>();
  GENAILAB_ASSIGN_OR_RETURN(daemon->metrics_, TrainerMetrics::Create(daemon->registry_));

  TrainingJobRunnerOptions runner;
  runner.repository = o.repository;
  runner.default_threads = o.default_threads;
  runner.metrics = daemon->metrics_.get();
  JobManager::Options manager;
  manager.state_directory = o.state_directory;
  GENAILAB_ASSIGN_OR_RETURN(daemon->devices_,
                            ParseDeviceList(o.devices, static_cast<int>(torch::cuda::device_count())));
  manager.devices = daemon->devices_;
  manager.jobs_per_device = o.jobs_per_device;
  manager.validate = MakeTrainingJobSpecValidator(runner);
  manager.run = MakeTrainingJobRunner(runner);
  manager.metrics = daemon->metrics_.get();
  GENAILAB_ASSIGN_OR_RETURN(daemon->manager_, JobManager::Create(std::move(manager)));

  daemon->service_ = std::make_unique<TrainerService>(daemon->manager_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.grpc_address, daemon->security_->credentials(), &daemon->grpc_port_);
  builder.RegisterService(daemon->service_.get());
  daemon->server_ = builder.BuildAndStart();
  if (daemon->server_ == nullptr || daemon->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot bind grpc_address ", o.grpc_address));
  }
  if (!o.metrics_address.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(daemon->metrics_endpoint_, MetricsEndpoint::Start(o.metrics_address, daemon->registry_));
  }
  if (!o.spool_directory.empty()) {
    SpoolWatcher::Options spool;
    spool.directory = o.spool_directory;
    spool.poll_interval = o.spool_poll_interval;
    JobManager* raw_manager = daemon->manager_.get();
    spool.submit = [raw_manager](const v1::TrainingJobSpec& spec,
                                 const std::string& source) -> absl::StatusOr<std::string> {
      GENAILAB_ASSIGN_OR_RETURN(v1::Job job, raw_manager->Submit(spec, source));
      return job.id();
    };
    GENAILAB_ASSIGN_OR_RETURN(daemon->spool_, SpoolWatcher::Start(std::move(spool)));
  }
  return daemon;
}

TrainerDaemon::TrainerDaemon(Options options) : options_(std::move(options)) {}

TrainerDaemon::~TrainerDaemon() { Shutdown(); }

std::string TrainerDaemon::DescribeSecurity() const { return security_->Describe(); }

int TrainerDaemon::metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }

void TrainerDaemon::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (spool_) spool_->Stop();
  // The manager first: open watches then end (UNAVAILABLE) and the server's shutdown need not wait for them.
  if (manager_) manager_->Shutdown();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  metrics_endpoint_.reset();
}

void TrainerDaemon::Wait() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&shut_down_));
  }
  if (server_) server_->Wait();
}

}  // namespace genailab
