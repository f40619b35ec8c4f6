// GpuMemoryReader: the interface through which the server reads per-GPU memory figures, so that the
// GPU memory gauges (GpuMemoryMonitor) are unit-tested with a fake and NVML stays an implementation
// detail (NvmlMemoryReader).
//
// Thread-safety: implementations must allow Read() from any one thread at a time.
#ifndef GENAILAB_SERVER_CORE_GPU_MEMORY_READER_H_
#define GENAILAB_SERVER_CORE_GPU_MEMORY_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genailab {

// One GPU as the driver numbers it (NVML order: PCI bus order, ignoring CUDA_VISIBLE_DEVICES).
struct GpuMemoryUsage {
  // NVML index.
  int index = 0;
  // "GPU-xxxxxxxx-...", as CUDA_VISIBLE_DEVICES may name it.
  std::string uuid;
  // Memory in use by every process on the device, and its size.
  int64_t used_bytes = 0;
  int64_t total_bytes = 0;
};

class GpuMemoryReader {
 public:
  virtual ~GpuMemoryReader() = default;
  // Every GPU of the machine, in NVML order. UNAVAILABLE when the driver cannot be queried.
  virtual absl::StatusOr<std::vector<GpuMemoryUsage>> Read() = 0;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GPU_MEMORY_READER_H_
