// genailab-server: serves the newest version of every model in a repository over gRPC
// (genailab.v1.GenerativeService, grpc.health.v1.Health, server reflection) with Prometheus metrics.
//
//   genailab-server --repository=/srv/models --grpc_address=0.0.0.0:50051 --metrics_address=0.0.0.0:9464
//
// SIGINT / SIGTERM drain running calls for up to --drain_seconds, then the process exits 0.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/malloc_tuning.h"
#include "common/shutdown_signals.h"
#include "models/vae_model.h"
#include "server/grpc/genailab_server.h"
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
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the gRPC port; with --tls_key enables TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; set = mutual TLS (clients must present a certificate signed by it).");
ABSL_FLAG(std::string, token_file, "",
          "Accepted bearer tokens, one per line; set = calls need 'authorization: Bearer <token>' "
          "(health checks excepted). Requires TLS.");
ABSL_FLAG(int, instances_per_device, 0,
          "Copies of every model version on the device, each with its own batcher (and sampler scheduler). "
          "0 = auto: on the CPU one per core, at most 4 (a CPU batch runs on one core, so copies run "
          "batches side by side); on CUDA 1.");
ABSL_FLAG(int64_t, max_batch_cells, 1024,
          "Most cells in one batch; larger Encode/Decode/PredictPerturbation requests are split into parts.");
ABSL_FLAG(double, max_queue_delay_ms, 0,
          "How long a queued request may wait for batch companions (0 = natural batching: whatever queued "
          "while the previous batch ran).");
ABSL_FLAG(int64_t, max_queue_requests, 1024,
          "Bounded queue per model instance; beyond it requests get RESOURCE_EXHAUSTED with retry-after-ms.");
ABSL_FLAG(int64_t, max_active_cells, 4096, "Iterative samplers: most cells sampled together per instance.");
ABSL_FLAG(std::string, version_policy, "latest:1",
          "Versions served per model: latest:N or specific:V1,V2 (models without an entry in "
          "--version_policy_file).");
ABSL_FLAG(std::string, version_policy_file, "",
          "Per-model version policies: lines '<model> <policy>' ('*' = default; '#' comments).");
ABSL_FLAG(int64_t, default_chunk_cells, 4096, "GenerateStream: cells per message when the request says 0.");
ABSL_FLAG(int64_t, max_stream_cells, 10000000, "GenerateStream: most cells one stream may ask for.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off.");

namespace genailab {
namespace {

struct RunOptions {
  GenailabServer::Options server;
  std::string port_file;
  absl::Duration drain = absl::Seconds(10);
};

// auto, cpu or cuda:N.
bool IsDevice(const std::string& device) {
  if (device == "auto" || device == "cpu") return true;
  int index = 0;
  return absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &index) && index >= 0;
}

// The CUDA device the models run on (for the GPU memory gauges): N for cuda:N, cuda:0 for auto when
// LibTorch sees CUDA; none on CPU.
std::vector<int> GpuMemoryDevices(const std::string& device) {
  int index = 0;
  if (absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &index)) return {index};
  if (device != "auto") return {};
  const absl::StatusOr<torch::Device> resolved = ResolveDevice(device);
  if (!resolved.ok() || !resolved->is_cuda()) return {};
  return {std::max<int>(0, resolved->index())};
}

// --instances_per_device=0 on the CPU: one copy per core, at most 4.
int AutoCpuInstances() {
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(cores, 1, 4));
}

// The batching, instance, version-policy and streaming flags. INVALID_ARGUMENT naming the flag.
absl::Status ParseEngineFlags(GenailabServer::Options* server) {
  if (!IsDevice(server->device)) {
    return absl::InvalidArgumentError(absl::StrCat("--device must be auto, cpu or cuda:N, got '", server->device, "'"));
  }
  server->gpu_memory_devices = GpuMemoryDevices(server->device);
  server->instances_per_device = absl::GetFlag(FLAGS_instances_per_device);
  if (server->instances_per_device == 0) {
    server->instances_per_device = server->gpu_memory_devices.empty() ? AutoCpuInstances() : 1;
  }
  server->max_batch_cells = absl::GetFlag(FLAGS_max_batch_cells);
  server->max_queue_delay = absl::Microseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_max_queue_delay_ms) * 1000));
  server->max_queue_requests = absl::GetFlag(FLAGS_max_queue_requests);
  server->max_active_cells = absl::GetFlag(FLAGS_max_active_cells);
  server->default_chunk_cells = absl::GetFlag(FLAGS_default_chunk_cells);
  server->max_stream_cells = absl::GetFlag(FLAGS_max_stream_cells);
  absl::StatusOr<VersionPolicy> policy = ParseVersionPolicy(absl::GetFlag(FLAGS_version_policy));
  if (!policy.ok()) return absl::InvalidArgumentError(absl::StrCat("--version_policy: ", policy.status().message()));
  server->default_version_policy = *policy;
  const std::string file = absl::GetFlag(FLAGS_version_policy_file);
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("--version_policy_file: cannot read '", file, "'"));
    std::stringstream text;
    text << in.rdbuf();
    absl::Status parsed = ParseVersionPolicyFile(text.str(), &server->default_version_policy, &server->version_policies);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--version_policy_file: ", parsed.message()));
  }
  return absl::OkStatus();
}

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
  std::thread signal_thread = OnShutdownSignal(signals, [raw, drain = options.drain](int signal_number) {
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
  // Before any thread starts, so only the signal thread receives them.
  const sigset_t signals = genailab::BlockShutdownSignals();
  // Debian's Abseil is built with its debug deadlock detection on: every absl::Mutex (ours and gRPC's)
  // would record its lock order in a global graph on every acquisition. That is a test-time aid, not
  // something to pay per request in production.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  genailab::KeepLargeBuffersInHeap();

  absl::SetProgramUsageMessage("Serves genailab generative models over gRPC. See --help.");
  absl::ParseCommandLine(argc, argv);

  if (const absl::Status logging = genailab::InitLogging("genailab-server", absl::GetFlag(FLAGS_log_level));
      !logging.ok()) {
    std::fprintf(stderr, "%s\n", std::string(logging.message()).c_str());
    return 2;
  }

  genailab::RunOptions options;
  options.server.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.server.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.server.repository_root = absl::GetFlag(FLAGS_repository);
  options.server.device = absl::GetFlag(FLAGS_device);
  options.server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.server.max_cells_per_request = absl::GetFlag(FLAGS_max_cells_per_request);
  options.server.poll_interval = absl::Seconds(absl::GetFlag(FLAGS_poll_interval_seconds));
  options.server.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.server.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.server.security.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.server.security.token_file = absl::GetFlag(FLAGS_token_file);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.drain = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  if (options.server.repository_root.empty()) {
    std::fprintf(stderr, "--repository is required\n");
    return 2;
  }
  if (absl::Status engine = genailab::ParseEngineFlags(&options.server); !engine.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine.message()).c_str());
    return 2;
  }
  return genailab::Run(options, signals);
}
