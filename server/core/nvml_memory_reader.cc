#include "server/core/nvml_memory_reader.h"

#include <dlfcn.h>

#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace genailab {
namespace {

// The few NVML declarations this reader needs (nvml.h, stable ABI since NVML 4), written out so that no
// CUDA header is needed to build.
using NvmlReturn = int;  // nvmlReturn_t; 0 = NVML_SUCCESS
using NvmlDevice = void*;  // nvmlDevice_t
struct NvmlMemory {      // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr unsigned int kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE

}  // namespace

struct NvmlMemoryReader::Api {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  const char* (*error_string)(NvmlReturn) = nullptr;
  NvmlReturn (*device_count)(unsigned int*) = nullptr;
  NvmlReturn (*handle_by_index)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*memory_info)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*uuid)(NvmlDevice, char*, unsigned int) = nullptr;

  std::string Error(NvmlReturn code) const {
    const char* text = error_string != nullptr ? error_string(code) : nullptr;
    return absl::StrCat(text != nullptr ? text : "unknown NVML error", " (", code, ")");
  }
};

absl::StatusOr<std::unique_ptr<NvmlMemoryReader>> NvmlMemoryReader::Create(Options options) {
  void* handle = dlopen(options.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    return absl::UnavailableError(absl::StrCat("cannot load ", options.library, " (no NVIDIA driver?): ",
                                               error != nullptr ? error : "dlopen failed"));
  }
  auto api = std::make_unique<Api>();
  std::string missing;
  const auto resolve = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
    if (function == nullptr) absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
  };
  resolve(api->init, "nvmlInit_v2");
  resolve(api->shutdown, "nvmlShutdown");
  resolve(api->error_string, "nvmlErrorString");
  resolve(api->device_count, "nvmlDeviceGetCount_v2");
  resolve(api->handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  resolve(api->memory_info, "nvmlDeviceGetMemoryInfo");
  resolve(api->uuid, "nvmlDeviceGetUUID");
  if (!missing.empty()) {
    dlclose(handle);
    return absl::UnavailableError(absl::StrCat(options.library, " lacks ", missing));
  }
  if (const NvmlReturn code = api->init(); code != kNvmlSuccess) {
    const std::string error = api->Error(code);
    dlclose(handle);
    return absl::UnavailableError(absl::StrCat("nvmlInit_v2 failed: ", error));
  }
  return std::unique_ptr<NvmlMemoryReader>(new NvmlMemoryReader(handle, std::move(api)));
}

NvmlMemoryReader::NvmlMemoryReader(void* handle, std::unique_ptr<Api> api)
    : handle_(handle), api_(std::move(api)) {}

NvmlMemoryReader::~NvmlMemoryReader() {
  api_->shutdown();
  dlclose(handle_);
}

absl::StatusOr<std::vector<GpuMemoryUsage>> NvmlMemoryReader::Read() {
  unsigned int count = 0;
  if (const NvmlReturn code = api_->device_count(&count); code != kNvmlSuccess) {
    return absl::UnavailableError(absl::StrCat("nvmlDeviceGetCount_v2: ", api_->Error(code)));
  }
  std::vector<GpuMemoryUsage> devices;
  for (unsigned int i = 0; i < count; ++i) {
    NvmlDevice device = nullptr;
    if (const NvmlReturn code = api_->handle_by_index(i, &device); code != kNvmlSuccess) {
      return absl::UnavailableError(absl::StrCat("nvmlDeviceGetHandleByIndex_v2(", i, "): ", api_->Error(code)));
    }
    NvmlMemory memory{};
    if (const NvmlReturn code = api_->memory_info(device, &memory); code != kNvmlSuccess) {
      return absl::UnavailableError(absl::StrCat("nvmlDeviceGetMemoryInfo(", i, "): ", api_->Error(code)));
    }
    char uuid[kUuidBufferSize] = {};
    GpuMemoryUsage usage;
    usage.index = static_cast<int>(i);
    // A missing UUID only stops CUDA_VISIBLE_DEVICES=GPU-... from matching this device.
    if (api_->uuid(device, uuid, kUuidBufferSize) == kNvmlSuccess) usage.uuid = uuid;
    usage.used_bytes = static_cast<int64_t>(memory.used);
    usage.total_bytes = static_cast<int64_t>(memory.total);
    devices.push_back(std::move(usage));
  }
  return devices;
}

}  // namespace genailab
