// GenailabServer: assembles the serving process: ModelManager (the versions each model's policy
// chooses, each on instances_per_device copies with their own batchers; see server/README.md),
// GenerativeCore, the GenerativeService and the Open Inference Protocol (KServe v2,
// server/kserve), gRPC health checking and server reflection on one gRPC port (plaintext, TLS or mutual
// TLS, optionally with bearer tokens: common/security), and Prometheus metrics on an HTTP port
// (MetricsEndpoint).
//
// Health (grpc.health.v1.Health): "" and "genailab.v1.GenerativeService" are SERVING between Start() and
// Shutdown(); "genailab.model.<name>" is SERVING while at least one version of the model is served
// (models loaded later by polling or LoadModel are added as they load) and NOT_SERVING once every
// version is retired (UnloadModel or the version policy), until one is loaded again. Shutdown() first
// turns every status NOT_SERVING, then drains.
//
// Lifecycle: Create() loads the models; Start() binds (port 0 picks a free port: see grpc_port() /
// metrics_port()); Shutdown(deadline) stops accepting and cancels calls still running at the deadline;
// Wait() blocks until shutdown completes. The destructor shuts down immediately if still running.
// Thread-safety: Shutdown() may be called from any thread (e.g. a signal thread) while another thread
// is in Wait(); Start() must be called once, before Wait().
#ifndef GENAILAB_SERVER_GRPC_GENAILAB_SERVER_H_
#define GENAILAB_SERVER_GRPC_GENAILAB_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/security/server_security.h"
#include "server/core/generative_core.h"
#include "server/core/gpu_memory_monitor.h"
#include "server/core/gpu_memory_reader.h"
#include "server/core/model_manager.h"
#include "server/core/server_metrics.h"

namespace grpc {
class Server;
}  // namespace grpc
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace genailab {

class GenerativeService;
class KServeService;
class LatentExplorer;
class MetricsEndpoint;

class GenailabServer {
 public:
  struct Options {
    // host:port for gRPC; port 0 picks a free port.
    std::string grpc_address = "127.0.0.1:50051";
    // host:port for Prometheus' /metrics; empty = no metrics. Port 0 picks a free port.
    std::string metrics_address = "127.0.0.1:9464";
    // Required: <root>/<model>/<version>/.
    std::string repository_root;
    // "auto", "cpu" or "cuda:N", handed to the loader.
    std::string device = "auto";
    // Largest request and response message, in bytes (applied to both directions).
    int64_t max_message_bytes = int64_t{256} << 20;
    int64_t max_cells_per_request = 100000;
    // > 0: poll the repository for new versions this often.
    absl::Duration poll_interval = absl::ZeroDuration();
    // Empty = LoadCheckpoint (models/checkpoint.h). Tests inject fakes.
    ModelLoader loader;
    // Copies of every model version on the device, each with its own batcher.
    int instances_per_device = 1;
    // Dynamic batching per instance (max_batch_cells also splits large row-wise requests).
    int64_t max_batch_cells = 1024;
    absl::Duration max_queue_delay = absl::ZeroDuration();
    int64_t max_queue_requests = 1024;
    // Step-level batching of iterative samplers: most rows sampled together per instance.
    int64_t max_active_cells = 4096;
    // Which versions are served: the default policy and per-model ones (ModelManager's VersionPolicy).
    VersionPolicy default_version_policy;
    std::map<std::string, VersionPolicy> version_policies;
    // GenerateStream: default cells per message and most cells per stream.
    int64_t default_chunk_cells = 4096;
    int64_t max_stream_cells = 10000000;
    // Optional: bytes of accelerator memory the models hold, exported as genailab_device_memory_bytes
    // when set (the models layer has no stable hook for it yet, so the binary leaves it empty).
    std::function<absl::StatusOr<int64_t>()> device_memory_bytes;
    // CUDA devices (as this process numbers them) whose memory is exported every second as
    // genailab_gpu_memory_used_bytes / genailab_gpu_memory_total_bytes{device="cuda:N"}; empty (CPU) =
    // none. Needs metrics. Without an NVIDIA driver this is logged once and nothing is exported.
    std::vector<int> gpu_memory_devices;
    // Opens the GPU memory reader; empty = NvmlMemoryReader (libnvidia-ml.so.1 through dlopen). Tests
    // inject fakes.
    std::function<absl::StatusOr<std::unique_ptr<GpuMemoryReader>>()> open_gpu_memory_reader;
    // TLS / mutual TLS / bearer tokens on the gRPC port (common/security/server_security.h); default
    // plaintext.
    ServerSecurity::Options security;
  };

  // INVALID_ARGUMENT for bad options (message size outside 1..2^31-1, non-positive cell limit, negative
  // poll interval, empty repository_root); NOT_FOUND if the repository root does not exist. Models that
  // fail to load are logged and skipped.
  static absl::StatusOr<std::unique_ptr<GenailabServer>> Create(Options options);

  ~GenailabServer();
  GenailabServer(const GenailabServer&) = delete;
  GenailabServer& operator=(const GenailabServer&) = delete;

  // Binds and starts serving. UNAVAILABLE if an address cannot be bound; FAILED_PRECONDITION if called
  // twice.
  absl::Status Start();
  // Graceful shutdown: at once marks every health status NOT_SERVING and answers new GenerativeService
  // calls UNAVAILABLE (while still accepting connections, so that clients and load balancers see it);
  // waits for the calls already accepted until `deadline`; then stops gRPC (cancelling calls still
  // running at `deadline`). Idempotent.
  void Shutdown(absl::Time deadline);
  // Blocks until the server has shut down (returns at once if it never started).
  void Wait();

  // The bound ports (0 before Start(), or when metrics are off).
  int grpc_port() const;
  int metrics_port() const;
  // Number of models served now.
  int served_models() const { return static_cast<int>(manager_->List().size()); }

 private:
  explicit GenailabServer(Options options);
  void OnModelLoaded(const ServableModel& model);
  void OnModelUnavailable(const std::string& model);
  // Sets the health status of `model` unless the server is not started or is shutting down.
  void SetModelHealth(const std::string& model, bool serving);
  // Refreshes process, GPU (and device) memory gauges every second until shutdown.
  void RefreshMemoryGauges();

  const Options options_;

  // Declared first: the manager's poll thread may call OnModelLoaded until the manager is destroyed.
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  int grpc_port_ ABSL_GUARDED_BY(mu_) = 0;
  int metrics_port_ ABSL_GUARDED_BY(mu_) = 0;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  // Null unless gpu_memory_devices is set and metrics are on.
  std::unique_ptr<GpuMemoryMonitor> gpu_memory_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<GenerativeCore> core_;
  std::unique_ptr<LatentExplorer> explorer_;
  std::unique_ptr<GenerativeService> service_;
  // The Open Inference Protocol (KServe v2) over the same core, on the same port.
  std::unique_ptr<KServeService> kserve_service_;
  std::unique_ptr<ServerSecurity> security_;
  // Set under mu_ in Start(); read without it afterwards (Wait) since it never changes again.
  std::unique_ptr<grpc::Server> server_;
  std::thread memory_thread_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_GENAILAB_SERVER_H_
