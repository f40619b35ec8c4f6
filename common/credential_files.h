// Reading the small secret files that secure a gRPC connection: PEM certificates and keys, and bearer
// token files. Shared by the server (server/security) and the client library, so both read and reject
// these files the same way.
//
// Stateless functions; thread-safe.
#ifndef GENAILAB_COMMON_CREDENTIAL_FILES_H_
#define GENAILAB_COMMON_CREDENTIAL_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genailab {

// The whole file at `path` (a PEM certificate chain, a private key or CA bundle). Errors name `field`
// and the path: NOT_FOUND when the file does not exist, PERMISSION_DENIED when it cannot be opened,
// INVALID_ARGUMENT when it is empty.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view field);

// The tokens in a token file: one per line, surrounding whitespace trimmed, blank lines and lines that
// start with '#' skipped. Errors as ReadCredentialFile, plus INVALID_ARGUMENT when no token remains or a
// token contains whitespace (it could not travel in an "authorization: Bearer <token>" header).
absl::StatusOr<std::vector<std::string>> ReadBearerTokens(const std::string& path, absl::string_view field);

}  // namespace genailab

#endif  // GENAILAB_COMMON_CREDENTIAL_FILES_H_
