// The rule for model names, shared by everything that turns a name into a repository path (trainer,
// server), so that no name can reach outside the repository.
#ifndef GENAILAB_COMMON_MODEL_NAME_H_
#define GENAILAB_COMMON_MODEL_NAME_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace genailab {

// OK for 1-128 characters of [A-Za-z0-9._-] starting with a letter or digit and holding no ".." (so
// never "." or "..", never a path separator); INVALID_ARGUMENT naming `field` otherwise.
absl::Status ValidateModelName(absl::string_view name, absl::string_view field = "model.name");

}  // namespace genailab

#endif  // GENAILAB_COMMON_MODEL_NAME_H_
