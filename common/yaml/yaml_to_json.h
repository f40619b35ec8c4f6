// YamlToJson: reads a YAML document and writes the same tree as JSON text, so YAML files can feed a JSON
// reader (e.g. protobuf's JsonStringToMessage for job specs). Plain scalars become JSON booleans
// (true/false), null (~, null, empty), integers or numbers when they read as such, strings otherwise;
// quoted scalars always stay strings. Stateless; thread-safe.
#ifndef GENAILAB_COMMON_YAML_YAML_TO_JSON_H_
#define GENAILAB_COMMON_YAML_YAML_TO_JSON_H_

#include <string>

#include "absl/status/statusor.h"

namespace genailab {

// INVALID_ARGUMENT with the parser's line and column for malformed YAML (or aliases/multi-documents it
// cannot map).
absl::StatusOr<std::string> YamlToJson(const std::string& yaml);

}  // namespace genailab

#endif  // GENAILAB_COMMON_YAML_YAML_TO_JSON_H_
