#include "server/grpc/call_outcome.h"

#include <chrono>
#include <utility>

#include "common/grpc/status_conversion.h"
#include "server/core/batch_scheduler.h"
#include "spdlog/spdlog.h"

namespace genailab {
namespace {

bool IsClientError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace

grpc::Status FinishCall(ServerMetrics* metrics, const char* rpc, const std::string& model,
                        grpc::ServerContextBase* context, const absl::Status& status, absl::Time start,
                        int64_t cells) {
  const absl::StatusCode code = status.code();
  if (status.ok()) {
  } else if (IsClientError(code)) {
    spdlog::debug("{} model='{}' failed: {}", rpc, model, status.ToString());
  } else {
    spdlog::info("{} model='{}' failed: {}", rpc, model, status.ToString());
  }
  const absl::Duration retry_after = RetryAfter(status);
  if (retry_after >= absl::ZeroDuration()) {
    context->AddTrailingMetadata("retry-after-ms", std::to_string(absl::ToInt64Milliseconds(retry_after)));
  }
  if (metrics != nullptr) {
    metrics->RecordRequest(rpc, code == absl::StatusCode::kNotFound ? std::string() : model, code,
                           absl::Now() - start, cells);
  }
  return ToGrpcStatus(status);
}

absl::Status ShuttingDownError() { return absl::UnavailableError("the server is shutting down; retry elsewhere"); }

CallContext CallContextFor(const grpc::ServerContextBase& context, std::function<bool()> is_cancelled) {
  CallContext call;
  call.is_cancelled = std::move(is_cancelled);
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) call.deadline = absl::FromChrono(deadline);
  return call;
}

}  // namespace genailab
