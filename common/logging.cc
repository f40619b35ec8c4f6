#include "common/logging.h"

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace genailab {

absl::Status InitLogging(const std::string& program, const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str answers "off" for any name it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat("unknown --log_level '", level, "'"));
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt(program));
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

}  // namespace genailab
