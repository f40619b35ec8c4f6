// TrainerDaemon: genailab-trainer assembled — a JobManager running training jobs (RunTrainingJob through
// the training job runner) on the daemon's devices, the TrainerService on a gRPC port (plaintext, TLS or
// mutual TLS, optionally with bearer tokens: common/security/server_security.h), an optional spool folder
// watcher, and the Prometheus metrics endpoint. trainer_main.cc parses flags into Options and runs one.
//
// Ownership: owns every component. Thread-safety: Shutdown() may be called from any thread (e.g. a signal
// thread) while another waits in Wait(). Lifecycle: Create() starts everything; Shutdown() stops the
// spool, the gRPC server (ending watches) and the manager (interrupted jobs stay queued for the next
// start); the destructor shuts down.
#ifndef GENAILAB_TRAINER_TRAINER_DAEMON_H_
#define GENAILAB_TRAINER_TRAINER_DAEMON_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/security/server_security.h"

namespace grpc {
class Server;
}  // namespace grpc
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace genailab {

class JobManager;
class MetricsEndpoint;
class SpoolWatcher;
class TrainerMetrics;
class TrainerService;

class TrainerDaemon {
 public:
  struct Options {
    // gRPC host:port (port 0 = any free port).
    std::string grpc_address = "127.0.0.1:50061";
    // TLS / mutual TLS / bearer tokens on the gRPC port, as genailab-server's; default plaintext.
    ServerSecurity::Options security;
    // Prometheus /metrics host:port; empty = no endpoint.
    std::string metrics_address;
    // The daemon's durable state: jobs/ (one JSON file per job) and work/<job id>/ (checkpoints). Required.
    std::string state_directory;
    // The model repository jobs publish into. Required.
    std::string repository;
    // Watched folder of job files; empty = no spool.
    std::string spool_directory;
    absl::Duration spool_poll_interval = absl::Seconds(2);
    // The devices jobs train on: "auto" (every CUDA device, or cpu without one) or a comma-separated list
    // of cpu, cuda and cuda:N (ParseDeviceList). A job runs on a matching device of the list (its spec's
    // training.device; unset = any), and is refused at submission if none matches.
    std::string devices = "cpu";
    // Jobs trained at once on each device.
    int jobs_per_device = 1;
    // For specs that set no thread count.
    int default_threads = 0;
  };

  // INVALID_ARGUMENT naming the missing or invalid option (devices: see ParseDeviceList, which gives
  // UNAVAILABLE for a CUDA device that is not present); UNAVAILABLE if a port cannot be bound; errors of
  // the components' Create otherwise (ServerSecurity::Create's naming the security option).
  static absl::StatusOr<std::unique_ptr<TrainerDaemon>> Create(Options options);
  ~TrainerDaemon();

  int grpc_port() const { return grpc_port_; }
  // "plaintext", "tls" or "mutual-tls", plus "+bearer-token" (ServerSecurity::Describe).
  std::string DescribeSecurity() const;
  // The devices jobs run on, resolved from Options::devices ("auto" becomes the CUDA devices or cpu).
  const std::vector<std::string>& devices() const { return devices_; }
  // 0 without a metrics endpoint.
  int metrics_port() const;

  void Shutdown();
  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  explicit TrainerDaemon(Options options);

  const Options options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<TrainerMetrics> metrics_;
  std::unique_ptr<JobManager> manager_;
  std::vector<std::string> devices_;
  std::unique_ptr<ServerSecurity> security_;
  std::unique_ptr<TrainerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SpoolWatcher> spool_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  int grpc_port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace genailab

#endif  // GENAILAB_TRAINER_TRAINER_DAEMON_H_
