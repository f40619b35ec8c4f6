// One unary RPC with a deadline, its gRPC status turned into an absl::Status (code and message kept) by
// FromGrpcStatus. Shared by every C++ client of the project's services.
#ifndef GENAILAB_COMMON_GRPC_UNARY_CALL_H_
#define GENAILAB_COMMON_GRPC_UNARY_CALL_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc/status_conversion.h"
#include "grpcpp/client_context.h"

namespace genailab {

// Calls (stub->*method)(context, request, &response) with a deadline `timeout` from now. Request and
// Response are given explicitly, e.g. UnaryCall<v1::GetJobRequest, v1::Job>(stub, &Stub::GetJob, ...).
template <typename Request, typename Response, typename Stub, typename Method>
absl::StatusOr<Response> UnaryCall(Stub* stub, Method method, const Request& request, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  Response response;
  const absl::Status status = FromGrpcStatus((stub->*method)(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

}  // namespace genailab

#endif  // GENAILAB_COMMON_GRPC_UNARY_CALL_H_
