#include "server/grpc/genailab_server.h"

#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "models/checkpoint.h"
#include "prometheus/registry.h"
#include "server/core/nvml_memory_reader.h"
#include "server/grpc/generative_service.h"
#include "server/kserve/kserve_service.h"
#include "common/http/metrics_endpoint.h"
#include "spdlog/spdlog.h"

namespace genailab {
namespace {

constexpr char kServiceName[] = "genailab.v1.GenerativeService";
// Idle gRPC handler threads kept for the next calls (see Start()).
constexpr int kMaxIdleHandlerThreads = 256;

std::string ModelHealthName(const std::string& model) { return absl::StrCat("genailab.model.", model); }

absl::StatusOr<std::unique_ptr<GpuMemoryReader>> OpenNvml() {
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<NvmlMemoryReader> reader, NvmlMemoryReader::Create({}));
  return std::unique_ptr<GpuMemoryReader>(std::move(reader));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GenailabServer>> GenailabServer::Create(Options options) {
  if (options.max_message_bytes <= 0 || options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes must be in 1..",
                                                   std::numeric_limits<int>::max(), ", got ",
                                                   options.max_message_bytes));
  }
  if (options.grpc_address.empty()) return absl::InvalidArgumentError("grpc_address is required");
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"instances_per_device", options.instances_per_device},
                                    {"max_batch_cells", options.max_batch_cells},
                                    {"max_queue_requests", options.max_queue_requests},
                                    {"max_active_cells", options.max_active_cells},
                                    {"default_chunk_cells", options.default_chunk_cells},
                                    {"max_stream_cells", options.max_stream_cells}}) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(name, " must be positive, got ", value));
  }
  if (options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_queue_delay must not be negative");
  }
  if (!options.loader) options.loader = &LoadCheckpoint;
  std::unique_ptr<GenailabServer> server(new GenailabServer(std::move(options)));
  const Options& opts = server->options_;
  GENAILAB_ASSIGN_OR_RETURN(server->security_, ServerSecurity::Create(opts.security));

  if (!opts.metrics_address.empty()) {
    server->registry_ = std::make_shared<prometheus::Registry>();
    GENAILAB_ASSIGN_OR_RETURN(server->metrics_, ServerMetrics::Create(server->registry_));
    if (!opts.gpu_memory_devices.empty()) {
      GpuMemoryMonitor::Options gpu;
      gpu.cuda_devices = opts.gpu_memory_devices;
      if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr) {
        gpu.cuda_visible_devices = visible;
      }
      gpu.metrics = server->metrics_.get();
      absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader =
          opts.open_gpu_memory_reader ? opts.open_gpu_memory_reader() : OpenNvml();
      GENAILAB_ASSIGN_OR_RETURN(server->gpu_memory_, GpuMemoryMonitor::Create(std::move(gpu), std::move(reader)));
    }
  }
  ModelManager::Options manager_options;
  manager_options.repository_root = opts.repository_root;
  manager_options.device = opts.device;
  manager_options.loader = opts.loader;
  manager_options.poll_interval = opts.poll_interval;
  manager_options.metrics = server->metrics_.get();
  GenailabServer* raw = server.get();
  manager_options.on_model_loaded = [raw](const ServableModel& model) { raw->OnModelLoaded(model); };
  manager_options.on_model_unavailable = [raw](const std::string& model) { raw->OnModelUnavailable(model); };
  manager_options.instances = opts.instances_per_device;
  manager_options.batching.max_batch_cells = opts.max_batch_cells;
  manager_options.batching.max_queue_delay = opts.max_queue_delay;
  manager_options.batching.max_queue_tasks = opts.max_queue_requests;
  manager_options.stepping.max_active_cells = opts.max_active_cells;
  manager_options.stepping.max_queue_tasks = opts.max_queue_requests;
  manager_options.default_policy = opts.default_version_policy;
  manager_options.policies = opts.version_policies;
  GENAILAB_ASSIGN_OR_RETURN(server->manager_, ModelManager::Create(std::move(manager_options)));
  GENAILAB_ASSIGN_OR_RETURN(const int served, server->manager_->LoadNewest());
  if (served == 0) spdlog::warn("no model could be loaded from '{}'", opts.repository_root);

  GenerativeCore::Options core_options;
  core_options.max_cells_per_request = opts.max_cells_per_request;
  core_options.split_cells = opts.max_batch_cells;
  core_options.default_chunk_cells = opts.default_chunk_cells;
  core_options.max_stream_cells = opts.max_stream_cells;
  GENAILAB_ASSIGN_OR_RETURN(server->core_, GenerativeCore::Create(server->manager_.get(), core_options));
  GENAILAB_ASSIGN_OR_RETURN(server->explorer_, LatentExplorer::Create(server->manager_.get()));
  server->service_ =
      std::make_unique<GenerativeService>(server->core_.get(), server->metrics_.get(), server->explorer_.get());
  server->kserve_service_ = std::make_unique<KServeService>(server->core_.get(), server->metrics_.get());
  return server;
}

GenailabServer::GenailabServer(Options options) : options_(std::move(options)) {}

GenailabServer::~GenailabServer() {
  Shutdown(absl::Now());
  Wait();
  // Stop polling before the members the callback touches go away.
  manager_.reset();
}

absl::Status GenailabServer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("GenailabServer::Start called twice");
  if (shutting_down_) return absl::FailedPreconditionError("GenailabServer is shut down");

  if (metrics_ != nullptr) {
    GENAILAB_ASSIGN_OR_RETURN(metrics_endpoint_, MetricsEndpoint::Start(options_.metrics_address, registry_));
    metrics_port_ = metrics_endpoint_->port();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.grpc_address, security_->credentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
  // Handlers block while their request waits in a model queue, so many calls are in flight at once.
  // gRPC's default (at most 2 idle pollers) makes every finished handler thread exit and every new call
  // start one: a thread created and destroyed per request under load. Keep idle threads instead.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxIdleHandlerThreads);
  builder.RegisterService(service_.get());
  builder.RegisterService(kserve_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    metrics_endpoint_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot serve gRPC on grpc_address '", options_.grpc_address, "'"));
  }
  grpc_port_ = port;
  started_ = true;
  if (metrics_ != nullptr) {
    // Once now, so that the first scrape has it; then every second.
    (void)metrics_->UpdateProcessMemory();
    memory_thread_ = std::thread([this] { RefreshMemoryGauges(); });
  }

  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus("", true);
    health->SetServingStatus(kServiceName, true);
    for (const auto& model : manager_->List()) health->SetServingStatus(ModelHealthName(model->name), true);
  }
  return absl::OkStatus();
}

void GenailabServer::OnModelLoaded(const ServableModel& model) { SetModelHealth(model.name, true); }

void GenailabServer::OnModelUnavailable(const std::string& model) { SetModelHealth(model, false); }

void GenailabServer::SetModelHealth(const std::string& model, bool serving) {
  absl::MutexLock lock(&mu_);
  // Start() publishes the models served before it; Shutdown() has turned everything NOT_SERVING.
  if (!started_ || shutting_down_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(ModelHealthName(model), serving);
}

void GenailabServer::Shutdown(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    if (!started_) return;
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    if (health != nullptr) health->SetServingStatus(false);
  }
  service_->StopAccepting();
  kserve_service_->StopAccepting();
  spdlog::info("shutting down: NOT_SERVING, draining accepted calls for up to {}",
               absl::FormatDuration(deadline - absl::Now()));
  // Outside mu_: draining waits for running calls, which never take mu_, but OnModelLoaded does.
  if (!service_->WaitIdle(deadline) || !kserve_service_->WaitIdle(deadline)) {
    spdlog::warn("drain deadline reached with calls still running");
  }
  server_->Shutdown(absl::ToChronoTime(deadline));
  if (memory_thread_.joinable()) memory_thread_.join();
  metrics_endpoint_.reset();
}

void GenailabServer::RefreshMemoryGauges() {
  while (true) {
    if (absl::Status updated = metrics_->UpdateProcessMemory(); !updated.ok()) {
      spdlog::debug("{}", updated.ToString());
    }
    if (gpu_memory_ != nullptr) {
      // Failures are logged once by the monitor.
      (void)gpu_memory_->Update();
    }
    if (options_.device_memory_bytes) {
      const absl::StatusOr<int64_t> bytes = options_.device_memory_bytes();
      if (bytes.ok()) metrics_->SetDeviceMemory(options_.device, *bytes);
    }
    absl::MutexLock lock(&mu_);
    const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Seconds(1))) return;
  }
}

void GenailabServer::Wait() {
  grpc::Server* server = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return;
    server = server_.get();
  }
  server->Wait();
}

int GenailabServer::grpc_port() const {
  absl::MutexLock lock(&mu_);
  return grpc_port_;
}

int GenailabServer::metrics_port() const {
  absl::MutexLock lock(&mu_);
  return metrics_port_;
}

}  // namespace genailab
