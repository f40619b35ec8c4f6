// ServerMetrics: the server's Prometheus metrics, registered on a registry the caller injects (no
// global registry). Components take a `ServerMetrics*` where nullptr means "metrics off".
//
//   genailab_requests_total{rpc,model,code}          counter
//   genailab_request_duration_seconds{rpc}           histogram, 1 ms .. 30 s
//   genailab_cells_processed_total{rpc,model}        counter
//   genailab_model_loaded{model,version}             gauge, 1 while that version is served; the series is
//                                                    removed when it is retired (no series per past version)
//   genailab_model_load_failures_total{model}        counter
//   genailab_model_loads_total{model}                counter, versions that started serving
//   genailab_model_unloads_total{model}              counter, versions unloaded (after draining)
//   genailab_model_served_version{model}             gauge, the newest version served (0 = none)
//   genailab_queue_duration_seconds{model}           histogram, time a task waited in a batcher
//   genailab_compute_duration_seconds{model}         histogram, time one batch (or sampler step) ran
//   genailab_batch_size_cells{model}                 histogram, rows per batch (or sampler step)
//   genailab_pending_requests{model}                 gauge, tasks queued or running
//   process_resident_memory_bytes                    gauge, from /proc/self/statm (UpdateProcessMemory)
//   genailab_device_memory_bytes{device}             gauge, only when a device-memory hook exists
//   genailab_gpu_memory_used_bytes{device}           gauge, GPU memory in use (NVML), only on CUDA
//   genailab_gpu_memory_total_bytes{device}          gauge, GPU memory size (NVML), only on CUDA
//
// Ownership: shares the registry; the metric objects live in it. Thread-safe (prometheus-cpp families
// and metrics are).
#ifndef GENAILAB_SERVER_CORE_SERVER_METRICS_H_
#define GENAILAB_SERVER_CORE_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace genailab {

class ServerMetrics {
 public:
  // INVALID_ARGUMENT if `registry` is null.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      std::shared_ptr<prometheus::Registry> registry);

  // One finished request. `model` may be empty (e.g. ListModels, or a model that was not found);
  // `cells` is added to cells_processed only for OK requests.
  void RecordRequest(const std::string& rpc, const std::string& model, absl::StatusCode code,
                     absl::Duration latency, int64_t cells);
  // loaded = false removes the version's series, so a long-lived server keeps no series per past version.
  void SetModelLoaded(const std::string& model, int64_t version, bool loaded);
  void RecordModelLoadFailure(const std::string& model);
  void RecordModelLoad(const std::string& model);
  void RecordModelUnload(const std::string& model);
  void SetServedVersion(const std::string& model, int64_t version);
  void RecordQueueTime(const std::string& model, absl::Duration waited);
  void RecordBatch(const std::string& model, int64_t cells, absl::Duration compute);
  void AddPendingRequests(const std::string& model, int64_t delta);
  // Reads /proc/self/statm into process_resident_memory_bytes. UNAVAILABLE where it cannot be read.
  absl::Status UpdateProcessMemory();
  void SetDeviceMemory(const std::string& device, int64_t bytes);
  // GPU memory of `device` (e.g. "cuda:0"), as the driver reports it.
  void SetGpuMemory(const std::string& device, int64_t used_bytes, int64_t total_bytes);
  // Removes the GPU memory series of `device` (e.g. when it can no longer be read).
  void ClearGpuMemory(const std::string& device);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  explicit ServerMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Counter>* cells_;
  prometheus::Family<prometheus::Gauge>* model_loaded_;
  prometheus::Family<prometheus::Counter>* load_failures_;
  prometheus::Family<prometheus::Counter>* loads_;
  prometheus::Family<prometheus::Counter>* unloads_;
  prometheus::Family<prometheus::Gauge>* served_version_;
  prometheus::Family<prometheus::Histogram>* queue_time_;
  prometheus::Family<prometheus::Histogram>* compute_time_;
  prometheus::Family<prometheus::Histogram>* batch_size_;
  prometheus::Family<prometheus::Gauge>* pending_;
  prometheus::Family<prometheus::Gauge>* resident_memory_;
  prometheus::Family<prometheus::Gauge>* device_memory_;
  prometheus::Family<prometheus::Gauge>* gpu_memory_used_;
  prometheus::Family<prometheus::Gauge>* gpu_memory_total_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_SERVER_METRICS_H_
