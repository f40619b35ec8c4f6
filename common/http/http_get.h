// HttpGet: a tiny blocking HTTP/1.0 client for tests (scrapes /metrics on 127.0.0.1). Thread-safe
// (no shared state); every call opens and closes its own socket, with a 10 s I/O timeout.
#ifndef GENAILAB_COMMON_HTTP_HTTP_GET_H_
#define GENAILAB_COMMON_HTTP_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace genailab {

// GET http://127.0.0.1:<port><path>; returns the whole response (status line, headers and body).
// UNAVAILABLE if the connection fails, DEADLINE_EXCEEDED on a timeout.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace genailab

#endif  // GENAILAB_COMMON_HTTP_HTTP_GET_H_
