// The trainer daemon's devices: parsing its --devices list and matching a job's requested
// training.device against one of them. Pure functions (no Torch): the daemon passes the number of CUDA
// devices it sees, so tests can pretend to have GPUs.
#ifndef GENAILAB_TRAINER_DEVICE_LIST_H_
#define GENAILAB_TRAINER_DEVICE_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genailab {

// `devices` is "auto" (every CUDA device, cuda:0 .. cuda:<cuda_device_count - 1>, or "cpu" when there is
// none) or a comma-separated list of "cpu", "cuda:N" and "cuda" (= cuda:0), e.g. "cpu,cuda:0,cuda:1".
// Returns the canonical names ("cpu", "cuda:N") in the given order. INVALID_ARGUMENT naming `devices` for
// an empty list, an entry of another form or a device listed twice; UNAVAILABLE naming `devices` for a
// CUDA device index that is not below cuda_device_count.
absl::StatusOr<std::vector<std::string>> ParseDeviceList(absl::string_view devices, int cuda_device_count);

// Whether a job whose spec asks for `requested` (training.device) may run on the daemon's `device` (a
// canonical name from ParseDeviceList): "" and "auto" match any device, "cuda" any CUDA device, "cpu" and
// "cuda:N" only that device.
bool DeviceMatches(absl::string_view requested, absl::string_view device);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_DEVICE_LIST_H_
