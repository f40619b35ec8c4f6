// GpuMemoryMonitor: exports genailab_gpu_memory_used_bytes and genailab_gpu_memory_total_bytes
// {device="cuda:N"} for the CUDA devices the server runs on, from a GpuMemoryReader (NvmlMemoryReader in
// production, a fake in tests). The server calls Update() every second.
//
// Device numbering: CUDA numbers the devices CUDA_VISIBLE_DEVICES lists (indices or GPU-UUID prefixes),
// in that order; NVML numbers every GPU in PCI order. Update() maps one to the other
// (CudaToNvmlPosition). Without CUDA_VISIBLE_DEVICES, CUDA device N is taken to be NVML device N, which
// holds under CUDA_DEVICE_ORDER=PCI_BUS_ID and on machines with identical GPUs.
//
// Absent NVML: Create() takes the reader as a StatusOr. When that is an error (no NVIDIA driver) the
// monitor logs it once ("GPU memory metrics unavailable: ..."), exports nothing, and Update() returns
// the error every time without logging again. A reader that fails later is logged once per outage and
// its series are removed until a read succeeds again. Nothing here crashes on a missing driver.
//
// Ownership: owns the reader; `metrics` is not owned and must outlive the monitor. Thread-safe.
#ifndef GENAILAB_SERVER_CORE_GPU_MEMORY_MONITOR_H_
#define GENAILAB_SERVER_CORE_GPU_MEMORY_MONITOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/gpu_memory_reader.h"
#include "server/core/server_metrics.h"

namespace genailab {

// The position in `gpus` (NVML order) of CUDA device `cuda_index`, given CUDA_VISIBLE_DEVICES
// (`visible`, nullopt = unset). Entries are NVML indices or "GPU-" UUID prefixes; as CUDA does, the list
// ends at the first entry that names no device (or one already listed). NOT_FOUND naming the device and
// the variable when it is not visible.
absl::StatusOr<int> CudaToNvmlPosition(int cuda_index, const std::optional<std::string>& visible,
                                       const std::vector<GpuMemoryUsage>& gpus);

class GpuMemoryMonitor {
 public:
  struct Options {
    // CUDA device indices (as this process numbers them) to export. Must not be empty or negative.
    std::vector<int> cuda_devices;
    // CUDA_VISIBLE_DEVICES; nullopt when unset.
    std::optional<std::string> cuda_visible_devices;
    // Required.
    ServerMetrics* metrics = nullptr;
    // Receives the one-time warnings; empty = spdlog::warn.
    std::function<void(const std::string&)> warn;
  };

  // INVALID_ARGUMENT for no metrics or a missing or negative device. A failed `reader` is not an
  // error here: the monitor then reports it once and stays inert.
  static absl::StatusOr<std::unique_ptr<GpuMemoryMonitor>> Create(
      Options options, absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader);

  // Reads the devices and sets their gauges. The reader's error (UNAVAILABLE for an absent driver) or
  // NOT_FOUND for a device that is not visible; the devices that could be read are still exported.
  absl::Status Update();

 private:
  GpuMemoryMonitor(Options options, absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader);
  void WarnOnce(const std::string& key, const std::string& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader_ ABSL_GUARDED_BY(mu_);
  // Warnings given and not yet resolved by a good read (keys: "reader", "cuda:N").
  std::set<std::string> warned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GPU_MEMORY_MONITOR_H_
