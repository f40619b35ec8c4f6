// NvmlMemoryReader: a GpuMemoryReader over the NVIDIA Management Library, loaded at run time with
// dlopen("libnvidia-ml.so.1"), so the server has no build-time CUDA dependency: it builds anywhere and
// reads GPU memory where the NVIDIA driver is installed.
//
// Ownership and lifecycle: Create() loads the library and calls nvmlInit_v2; the destructor calls
// nvmlShutdown and unloads it. Thread-safety: Read() is thread-safe (NVML is).
#ifndef GENAILAB_SERVER_CORE_NVML_MEMORY_READER_H_
#define GENAILAB_SERVER_CORE_NVML_MEMORY_READER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/gpu_memory_reader.h"

namespace genailab {

class NvmlMemoryReader final : public GpuMemoryReader {
 public:
  struct Options {
    // The shared library to dlopen (a file name searched as dlopen does, or a path).
    std::string library = "libnvidia-ml.so.1";
  };

  // UNAVAILABLE naming the library when it cannot be loaded (no NVIDIA driver), lacks a function this
  // reader needs, or nvmlInit_v2 fails (the message carries NVML's error string).
  static absl::StatusOr<std::unique_ptr<NvmlMemoryReader>> Create(Options options);

  ~NvmlMemoryReader() override;
  NvmlMemoryReader(const NvmlMemoryReader&) = delete;
  NvmlMemoryReader& operator=(const NvmlMemoryReader&) = delete;

  // UNAVAILABLE with NVML's error string when a query fails.
  absl::StatusOr<std::vector<GpuMemoryUsage>> Read() override;

 private:
  struct Api;  // the NVML entry points, resolved with dlsym
  NvmlMemoryReader(void* handle, std::unique_ptr<Api> api);

  void* const handle_;
  const std::unique_ptr<Api> api_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_NVML_MEMORY_READER_H_
