// The one place where absl::Status becomes grpc::Status (and, for clients, back). Both use the canonical code numbers, so the
// code carries over unchanged; the message is copied.
#ifndef GENAILAB_COMMON_GRPC_STATUS_CONVERSION_H_
#define GENAILAB_COMMON_GRPC_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace genailab {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients: the server's code and message, unchanged.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace genailab

#endif  // GENAILAB_COMMON_GRPC_STATUS_CONVERSION_H_
