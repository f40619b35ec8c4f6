#include "server/core/server_metrics.h"

#include <fstream>
#include <utility>

#include <unistd.h>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace genailab {
namespace {

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
  return *kBuckets;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536};
  return *kBuckets;
}

const prometheus::Histogram::BucketBoundaries& QueueBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};
  return *kBuckets;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  return std::unique_ptr<ServerMetrics>(new ServerMetrics(std::move(registry)));
}

ServerMetrics::ServerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      requests_(&prometheus::BuildCounter()
                     .Name("genailab_requests_total")
                     .Help("Finished GenerativeService requests by RPC, model and status code.")
                     .Register(*registry_)),
      duration_(&prometheus::BuildHistogram()
                     .Name("genailab_request_duration_seconds")
                     .Help("GenerativeService request latency in seconds.")
                     .Register(*registry_)),
      cells_(&prometheus::BuildCounter()
                  .Name("genailab_cells_processed_total")
                  .Help("Cells encoded, decoded, generated or perturbed by successful requests.")
                  .Register(*registry_)),
      model_loaded_(&prometheus::BuildGauge()
                         .Name("genailab_model_loaded")
                         .Help("1 while this model version is served, else 0.")
                         .Register(*registry_)),
      load_failures_(&prometheus::BuildCounter()
                          .Name("genailab_model_load_failures_total")
                          .Help("Model versions that failed to load.")
                          .Register(*registry_)),
      loads_(&prometheus::BuildCounter()
                  .Name("genailab_model_loads_total")
                  .Help("Model versions loaded, warmed up and put into service.")
                  .Register(*registry_)),
      unloads_(&prometheus::BuildCounter()
                    .Name("genailab_model_unloads_total")
                    .Help("Model versions unloaded after their last request finished.")
                    .Register(*registry_)),
      served_version_(&prometheus::BuildGauge()
                           .Name("genailab_model_served_version")
                           .Help("The newest version of the model that receives traffic (0 = none).")
                           .Register(*registry_)),
      queue_time_(&prometheus::BuildHistogram()
                       .Name("genailab_queue_duration_seconds")
                       .Help("Time a request's task waited in a batcher queue before running.")
                       .Register(*registry_)),
      compute_time_(&prometheus::BuildHistogram()
                         .Name("genailab_compute_duration_seconds")
                         .Help("Time one batch (or one sampler step) spent in the model.")
                         .Register(*registry_)),
      batch_size_(&prometheus::BuildHistogram()
                       .Name("genailab_batch_size_cells")
                       .Help("Cells (rows) per batch handed to the model.")
                       .Register(*registry_)),
      pending_(&prometheus::BuildGauge()
                    .Name("genailab_pending_requests")
                    .Help("Tasks queued or running in the model's schedulers.")
                    .Register(*registry_)),
      resident_memory_(&prometheus::BuildGauge()
                            .Name("process_resident_memory_bytes")
                            .Help("Resident set size of the server process (/proc/self/statm).")
                            .Register(*registry_)),
      device_memory_(&prometheus::BuildGauge()
                          .Name("genailab_device_memory_bytes")
                          .Help("Accelerator memory held by the models, where the models layer reports it.")
                          .Register(*registry_)),
      gpu_memory_used_(&prometheus::BuildGauge()
                            .Name("genailab_gpu_memory_used_bytes")
                            .Help("GPU memory in use on the device (all processes), as NVML reports it.")
                            .Register(*registry_)),
      gpu_memory_total_(&prometheus::BuildGauge()
                             .Name("genailab_gpu_memory_total_bytes")
                             .Help("GPU memory of the device, as NVML reports it.")
                             .Register(*registry_)) {}

void ServerMetrics::RecordRequest(const std::string& rpc, const std::string& model,
                                  absl::StatusCode code, absl::Duration latency, int64_t cells) {
  requests_->Add({{"rpc", rpc}, {"model", model}, {"code", absl::StatusCodeToString(code)}})
      .Increment();
  duration_->Add({{"rpc", rpc}}, DurationBuckets()).Observe(absl::ToDoubleSeconds(latency));
  if (code == absl::StatusCode::kOk && cells > 0) {
    cells_->Add({{"rpc", rpc}, {"model", model}}).Increment(static_cast<double>(cells));
  }
}

void ServerMetrics::SetModelLoaded(const std::string& model, int64_t version, bool loaded) {
  prometheus::Gauge& gauge = model_loaded_->Add({{"model", model}, {"version", std::to_string(version)}});
  if (loaded) {
    gauge.Set(1.0);
  } else {
    model_loaded_->Remove(&gauge);
  }
}

void ServerMetrics::RecordModelLoadFailure(const std::string& model) {
  load_failures_->Add({{"model", model}}).Increment();
}

void ServerMetrics::RecordModelLoad(const std::string& model) { loads_->Add({{"model", model}}).Increment(); }

void ServerMetrics::RecordModelUnload(const std::string& model) {
  unloads_->Add({{"model", model}}).Increment();
}

void ServerMetrics::SetServedVersion(const std::string& model, int64_t version) {
  served_version_->Add({{"model", model}}).Set(static_cast<double>(version));
}

void ServerMetrics::RecordQueueTime(const std::string& model, absl::Duration waited) {
  queue_time_->Add({{"model", model}}, QueueBuckets()).Observe(absl::ToDoubleSeconds(waited));
}

void ServerMetrics::RecordBatch(const std::string& model, int64_t cells, absl::Duration compute) {
  batch_size_->Add({{"model", model}}, BatchBuckets()).Observe(static_cast<double>(cells));
  compute_time_->Add({{"model", model}}, DurationBuckets()).Observe(absl::ToDoubleSeconds(compute));
}

void ServerMetrics::AddPendingRequests(const std::string& model, int64_t delta) {
  pending_->Add({{"model", model}}).Increment(static_cast<double>(delta));
}

absl::Status ServerMetrics::UpdateProcessMemory() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0;
  int64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) {
    return absl::UnavailableError("cannot read /proc/self/statm");
  }
  resident_memory_->Add({}).Set(static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  return absl::OkStatus();
}

void ServerMetrics::SetDeviceMemory(const std::string& device, int64_t bytes) {
  device_memory_->Add({{"device", device}}).Set(static_cast<double>(bytes));
}

void ServerMetrics::SetGpuMemory(const std::string& device, int64_t used_bytes, int64_t total_bytes) {
  gpu_memory_used_->Add({{"device", device}}).Set(static_cast<double>(used_bytes));
  gpu_memory_total_->Add({{"device", device}}).Set(static_cast<double>(total_bytes));
}

void ServerMetrics::ClearGpuMemory(const std::string& device) {
  for (prometheus::Family<prometheus::Gauge>* family : {gpu_memory_used_, gpu_memory_total_}) {
    family->Remove(&family->Add({{"device", device}}));
  }
}

}  // namespace genailab
