// The one place where absl::Status becomes grpc::Status. Both use the canonical code numbers, so the
// code carries over unchanged; the message is copied.
#ifndef GENAILAB_SERVER_GRPC_STATUS_CONVERSION_H_
#define GENAILAB_SERVER_GRPC_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace genailab {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_STATUS_CONVERSION_H_
