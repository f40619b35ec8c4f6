#include "server/core/gpu_memory_monitor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

namespace genailab {
namespace {

// The position in `gpus` an entry of CUDA_VISIBLE_DEVICES names, or -1.
int PositionOfEntry(absl::string_view entry, const std::vector<GpuMemoryUsage>& gpus) {
  entry = absl::StripAsciiWhitespace(entry);
  int index = 0;
  if (!entry.empty() && std::all_of(entry.begin(), entry.end(), absl::ascii_isdigit) &&
      absl::SimpleAtoi(entry, &index)) {
    for (size_t p = 0; p < gpus.size(); ++p) {
      if (gpus[p].index == index) return static_cast<int>(p);
    }
    return -1;
  }
  if (!absl::StartsWith(entry, "GPU-") || entry.size() <= 4) return -1;  // MIG-... and the rest
  int found = -1;
  for (size_t p = 0; p < gpus.size(); ++p) {
    if (!absl::StartsWith(gpus[p].uuid, entry)) continue;
    if (found >= 0) return -1;  // an ambiguous prefix names no device
    found = static_cast<int>(p);
  }
  return found;
}

}  // namespace

absl::StatusOr<int> CudaToNvmlPosition(int cuda_index, const std::optional<std::string>& visible,
                                       const std::vector<GpuMemoryUsage>& gpus) {
  std::vector<int> positions;
  if (!visible.has_value()) {
    for (size_t p = 0; p < gpus.size(); ++p) positions.push_back(static_cast<int>(p));
  } else if (!absl::StripAsciiWhitespace(*visible).empty()) {
    for (const absl::string_view entry : absl::StrSplit(*visible, ',')) {
      const int position = PositionOfEntry(entry, gpus);
      if (position < 0 || std::find(positions.begin(), positions.end(), position) != positions.end()) break;
      positions.push_back(position);
    }
  }
  if (cuda_index < 0 || cuda_index >= static_cast<int>(positions.size())) {
    return absl::NotFoundError(absl::StrCat(
        "cuda:", cuda_index, " is not visible: ", positions.size(), " of ", gpus.size(), " GPU(s) visible",
        visible.has_value() ? absl::StrCat(" (CUDA_VISIBLE_DEVICES=\"", *visible, "\")") : std::string()));
  }
  return positions[cuda_index];
}

absl::StatusOr<std::unique_ptr<GpuMemoryMonitor>> GpuMemoryMonitor::Create(
    Options options, absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader) {
  if (options.metrics == nullptr) return absl::InvalidArgumentError("GpuMemoryMonitor needs metrics");
  if (options.cuda_devices.empty()) return absl::InvalidArgumentError("GpuMemoryMonitor needs a CUDA device");
  for (const int device : options.cuda_devices) {
    if (device < 0) return absl::InvalidArgumentError(absl::StrCat("CUDA device index ", device, " is negative"));
  }
  if (reader.ok() && *reader == nullptr) reader = absl::InternalError("null GPU memory reader");
  if (!options.warn) options.warn = [](const std::string& message) { spdlog::warn("{}", message); };
  return std::unique_ptr<GpuMemoryMonitor>(new GpuMemoryMonitor(std::move(options), std::move(reader)));
}

GpuMemoryMonitor::GpuMemoryMonitor(Options options, absl::StatusOr<std::unique_ptr<GpuMemoryReader>> reader)
    : options_(std::move(options)), reader_(std::move(reader)) {
  absl::MutexLock lock(&mu_);
  if (!reader_.ok()) {
    WarnOnce("reader", absl::StrCat("GPU memory metrics unavailable: ", reader_.status().message()));
  }
}

void GpuMemoryMonitor::WarnOnce(const std::string& key, const std::string& message) {
  if (warned_.insert(key).second) options_.warn(message);
}

absl::Status GpuMemoryMonitor::Update() {
  absl::MutexLock lock(&mu_);
  if (!reader_.ok()) return reader_.status();
  const absl::StatusOr<std::vector<GpuMemoryUsage>> gpus = (*reader_)->Read();
  if (!gpus.ok()) {
    WarnOnce("reader", absl::StrCat("cannot read GPU memory (gauges removed until it reads again): ",
                                    gpus.status().message()));
    for (const int device : options_.cuda_devices) options_.metrics->ClearGpuMemory(absl::StrCat("cuda:", device));
    return gpus.status();
  }
  warned_.erase("reader");
  absl::Status result;
  for (const int device : options_.cuda_devices) {
    const std::string label = absl::StrCat("cuda:", device);
    const absl::StatusOr<int> position = CudaToNvmlPosition(device, options_.cuda_visible_devices, *gpus);
    if (!position.ok()) {
      WarnOnce(label, absl::StrCat("GPU memory of ", label, " not exported: ", position.status().message()));
      options_.metrics->ClearGpuMemory(label);
      result.Update(position.status());
      continue;
    }
    warned_.erase(label);
    const GpuMemoryUsage& usage = (*gpus)[*position];
    options_.metrics->SetGpuMemory(label, usage.used_bytes, usage.total_bytes);
  }
  return result;
}

}  // namespace genailab
