// genailab-trainer: the training daemon. Queues training jobs submitted over gRPC
// (genailab.v1.TrainerService, e.g. `genailab train submit`) or dropped as JSON files into a spool folder,
// trains them one at a time per device with resumable checkpoints, and publishes each trained model as a
// new version into the model repository that genailab-server watches. See trainer/README.md.
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/shutdown_signals.h"
#include "spdlog/spdlog.h"
#include "trainer/job_store.h"
#include "trainer/trainer_daemon.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50061", "host:port for gRPC (port 0 = any free port).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the gRPC port; with --tls_key enables TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; set = mutual TLS (clients must present a certificate signed by it).");
ABSL_FLAG(std::string, token_file, "",
          "Accepted bearer tokens, one per line; set = calls need 'authorization: Bearer <token>'. Requires TLS.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9465", "host:port of Prometheus /metrics; empty = off.");
ABSL_FLAG(std::string, state_dir, "", "The daemon's state: job records and checkpoints. Required.");
ABSL_FLAG(std::string, repository, "", "Model repository to publish into (genailab-server's). Required.");
ABSL_FLAG(std::string, spool_dir, "", "Folder watched for job files (*.json); empty = no spool.");
ABSL_FLAG(double, spool_poll_seconds, 2, "How often the spool folder is read.");
ABSL_FLAG(std::string, devices, "cpu",
          "Devices jobs train on: auto (every CUDA device, else cpu) or a comma-separated list of cpu, cuda:N "
          "(e.g. cpu,cuda:0,cuda:1). A job runs on a free device matching its training.device (unset/auto = "
          "any); a job naming a device not in the list is refused.");
ABSL_FLAG(int, jobs_per_device, 1, "Jobs trained at once on each device.");
ABSL_FLAG(int, threads, 0, "Intra-op threads for jobs that set none (0 = LibTorch's default).");
ABSL_FLAG(std::string, port_file, "",
          "When set, the bound ports are written here as {\"grpc_port\":N,\"metrics_port\":M} once serving.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off.");

namespace genailab {
namespace {

struct RunOptions {
  TrainerDaemon::Options daemon;
  std::string port_file;
};

// `signals` must already be blocked in every thread.
int Run(const RunOptions& options, const sigset_t& signals) {
  auto daemon = TrainerDaemon::Create(options.daemon);
  if (!daemon.ok()) {
    spdlog::critical("cannot start the trainer: {}", daemon.status().ToString());
    return 1;
  }
  if (!options.port_file.empty()) {
    const absl::Status written = WriteFileAtomically(
        options.port_file, absl::StrCat("{\"grpc_port\":", (*daemon)->grpc_port(),
                                        ",\"metrics_port\":", (*daemon)->metrics_port(), "}\n"));
    if (!written.ok()) {
      spdlog::critical("{}", written.ToString());
      return 1;
    }
  }
  spdlog::info("trainer serving on port {} ({}), metrics on port {}, devices {} ({} job(s) each), state in {}, "
               "publishing into {}",
               (*daemon)->grpc_port(), (*daemon)->DescribeSecurity(), (*daemon)->metrics_port(),
               absl::StrJoin((*daemon)->devices(), ","), options.daemon.jobs_per_device, options.daemon.state_directory,
               options.daemon.repository);
  TrainerDaemon* raw = daemon->get();
  std::thread signal_thread = OnShutdownSignal(signals, [raw](int signal_number) {
    spdlog::info("received signal {}, shutting down (running jobs resume on the next start)", signal_number);
    raw->Shutdown();
  });
  (*daemon)->Wait();
  signal_thread.join();
  spdlog::info("trainer stopped");
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  // Before any thread starts, so only the signal thread receives them.
  const sigset_t signals = genailab::BlockShutdownSignals();

  absl::SetProgramUsageMessage(
      "The genailab training daemon.\n"
      "  genailab-trainer --state_dir=/var/lib/genailab-trainer --repository=models --spool_dir=spool");
  absl::ParseCommandLine(argc, argv);
  if (const absl::Status logging = genailab::InitLogging("genailab-trainer", absl::GetFlag(FLAGS_log_level));
      !logging.ok()) {
    std::fprintf(stderr, "%s\n", std::string(logging.message()).c_str());
    return 2;
  }

  genailab::RunOptions options;
  options.daemon.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.daemon.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.daemon.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.daemon.security.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.daemon.security.token_file = absl::GetFlag(FLAGS_token_file);
  options.daemon.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.daemon.state_directory = absl::GetFlag(FLAGS_state_dir);
  options.daemon.repository = absl::GetFlag(FLAGS_repository);
  options.daemon.spool_directory = absl::GetFlag(FLAGS_spool_dir);
  options.daemon.spool_poll_interval = absl::Seconds(absl::GetFlag(FLAGS_spool_poll_seconds));
  options.daemon.devices = absl::GetFlag(FLAGS_devices);
  options.daemon.jobs_per_device = absl::GetFlag(FLAGS_jobs_per_device);
  options.daemon.default_threads = absl::GetFlag(FLAGS_threads);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  return genailab::Run(options, signals);
}
