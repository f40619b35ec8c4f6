// Process-wide logging set-up for the project's binaries: spdlog to stderr under the program's name, at
// a level given by name. Called once from main(), before any thread logs.
#ifndef GENAILAB_COMMON_LOGGING_H_
#define GENAILAB_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace genailab {

// Makes a colored stderr logger named `program` the default and sets `level` ("trace", "debug",
// "info", "warn", "error", "critical" or "off"). INVALID_ARGUMENT naming an unknown level.
absl::Status InitLogging(const std::string& program, const std::string& level);

}  // namespace genailab

#endif  // GENAILAB_COMMON_LOGGING_H_
