#include "trainer/device_list.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace genailab {

absl::StatusOr<std::vector<std::string>> ParseDeviceList(absl::string_view devices, int cuda_device_count) {
  std::vector<std::string> parsed;
  if (absl::StripAsciiWhitespace(devices) == "auto") {
    for (int i = 0; i < cuda_device_count; ++i) parsed.push_back(absl::StrCat("cuda:", i));
    if (parsed.empty()) parsed.push_back("cpu");
    return parsed;
  }
  for (absl::string_view entry : absl::StrSplit(devices, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    std::string name;
    if (entry == "cpu") {
      name = "cpu";
    } else {
      int index = 0;
      absl::string_view digits = entry;
      const bool cuda = entry == "cuda" ||
                        (absl::ConsumePrefix(&digits, "cuda:") && !digits.empty() &&
                         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                         absl::SimpleAtoi(digits, &index));
      if (!cuda) {
        return absl::InvalidArgumentError(absl::StrCat("devices: '", entry,
                                                       "' is not a device (expected auto, or a comma-separated list "
                                                       "of cpu, cuda and cuda:N)"));
      }
      if (index >= cuda_device_count) {
        return absl::UnavailableError(absl::StrCat("devices: '", entry, "' is not present (", cuda_device_count,
                                                   " CUDA device(s) visible)"));
      }
      name = absl::StrCat("cuda:", index);
    }
    if (std::find(parsed.begin(), parsed.end(), name) != parsed.end()) {
      return absl::InvalidArgumentError(absl::StrCat("devices: ", name, " is listed twice"));
    }
    parsed.push_back(std::move(name));
  }
  return parsed;
}

bool DeviceMatches(absl::string_view requested, absl::string_view device) {
  if (requested.empty() || requested == "auto") return true;
  if (requested == "cuda") return absl::StartsWith(device, "cuda:");
  return requested == device;
}

}  // namespace genailab
