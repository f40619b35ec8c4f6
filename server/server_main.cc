// genailab-server: serves the newest version of every model in a repository over gRPC
// (genailab.v1.GenerativeService, grpc.health.v1.Health, server reflection) with Prometheus metrics.
//
//   genailab-server --repository=/srv/models --grpc_address=0.0.0.0:50051 --metrics_address=0.0.0.0:9464
//
// SIGINT / SIGTERM drain running calls for up to --drain_seconds, then the process exits 0.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/grpc/genailab_server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051", "host:port for gRPC (port 0 = any free port).");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "host:port for Prometheus /metrics (port 0 = any free port; empty = no metrics).");
ABSL_FLAG(std::string, repository, "", "Model repository root: <root>/<model>/<version>/. Required.");
ABSL_FLAG(std::string, device, "auto", "Device to load models on: auto, cpu or cuda:N.");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{256} << 20, "Largest gRPC request and response, in bytes.");
ABSL_FLAG(int64_t, max_cells_per_request, 100000, "Most cells one request may carry or generate.");
ABSL_FLAG(double, poll_interval_seconds, 0, "Poll the repository for new versions this often (0 = off).");
ABSL_FLAG(std::string, port_file, "",
          "If set, after binding write {\"grpc_port\":N,\"metrics_port\":M} to this file (atomically).");
ABSL_FLAG(double, drain_seconds, 10, "On SIGINT/SIGTERM, let running calls finish for this long.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off.");

namespace genailab {
namespace {

struct RunOptions {
  GenailabServer::Options server;
  std::string port_file;
  absl::Duration drain = absl::Seconds(10);
};

absl::Status WritePortFile(const std::string& path, int grpc_port, int metrics_port) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << "{\"grpc_port\":" << grpc_port << ",\"metrics_port\":" << metrics_port << "}\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write port_file '", temporary, "'"));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot rename to port_file '", path, "': ", error.message()));
  }
  return absl::OkStatus();
}

// `signals` must already be blocked in every thread.
int Run(const RunOptions& options, const sigset_t& signals) {
  auto server = GenailabServer::Create(options.server);
  if (!server.ok()) {
    spdlog::critical("cannot create the server: {}", server.status().ToString());
    return 1;
  }
  if (absl::Status started = (*server)->Start(); !started.ok()) {
    spdlog::critical("cannot start the server: {}", started.ToString());
    return 1;
  }
  const int grpc_port = (*server)->grpc_port();
  const int metrics_port = (*server)->metrics_port();
  if (!options.port_file.empty()) {
    if (absl::Status written = WritePortFile(options.port_file, grpc_port, metrics_port); !written.ok()) {
      spdlog::critical("{}", written.ToString());
      (*server)->Shutdown(absl::Now());
      (*server)->Wait();
      return 1;
    }
  }
  spdlog::info("serving {} models on {} (port {}), metrics on {}", (*server)->served_models(),
               options.server.grpc_address, grpc_port,
               options.server.metrics_address.empty() ? std::string("(off)")
                                                      : absl::StrCat(options.server.metrics_address,
                                                                     " (port ", metrics_port, ")"));
  GenailabServer* raw = server->get();
  std::thread signal_thread([raw, &signals, drain = options.drain] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("received signal {}, shutting down", signal_number);
    raw->Shutdown(absl::Now() + drain);
  });
  (*server)->Wait();
  signal_thread.join();
  spdlog::info("server stopped");
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so only the sigwait thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage("Serves genailab generative models over gRPC. See --help.");
  absl::ParseCommandLine(argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("genailab-server"));
  const spdlog::level::level_enum level = spdlog::level::from_str(absl::GetFlag(FLAGS_log_level));
  if (level == spdlog::level::off && absl::GetFlag(FLAGS_log_level) != "off") {
    std::fprintf(stderr, "unknown --log_level '%s'\n", absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  spdlog::set_level(level);

  genailab::RunOptions options;
  options.server.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.server.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.server.repository_root = absl::GetFlag(FLAGS_repository);
  options.server.device = absl::GetFlag(FLAGS_device);
  options.server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.server.max_cells_per_request = absl::GetFlag(FLAGS_max_cells_per_request);
  options.server.poll_interval = absl::Seconds(absl::GetFlag(FLAGS_poll_interval_seconds));
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.drain = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  if (options.server.repository_root.empty()) {
    std::fprintf(stderr, "--repository is required\n");
    return 2;
  }
  return genailab::Run(options, signals);
}
