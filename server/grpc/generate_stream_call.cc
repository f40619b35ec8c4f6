#include "server/grpc/generate_stream_call.h"

#include <utility>

#include "server/grpc/call_outcome.h"

namespace genailab {
namespace {

constexpr char kRpc[] = "GenerateStream";

}  // namespace

grpc::ServerWriteReactor<v1::GenerateResponse>* GenerateStreamCall::Start(const GenerativeCore* core,
                                                                          CallAdmission* admission,
                                                                          ServerMetrics* metrics,
                                                                          grpc::CallbackServerContext* context,
                                                                          const v1::GenerateStreamRequest* request) {
  auto* call = new GenerateStreamCall(admission, metrics, context, request);
  if (!admission->Enter()) {
    call->Finish(FinishCall(metrics, kRpc, request->request().model().name(), context, ShuttingDownError(),
                            call->started_, 0));
    return call;
  }
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = core->StartGenerateStream(
      *request, CallContextFor(*context, [cancelled = call->cancelled_] {
        return cancelled->load(std::memory_order_relaxed);
      }));
  if (!stream.ok()) {
    call->End(stream.status());
    return call;
  }
  call->stream_ = std::move(stream).value();
  call->WriteNext();
  return call;
}

void GenerateStreamCall::WriteNext() {
  stream_->Next(&message_, [this](absl::StatusOr<bool> more) {
    if (!more.ok()) return End(more.status());
    if (!*more) return End(absl::OkStatus());
    cells_ += message_.cells().rows();
    StartWrite(&message_);
  });
}

void GenerateStreamCall::OnWriteDone(bool ok) {
  if (!ok) return End(absl::CancelledError("the client stopped reading the stream"));
  WriteNext();
}

void GenerateStreamCall::End(const absl::Status& status) {
  // Blocks still queued for this call are dropped from now on.
  cancelled_->store(true, std::memory_order_relaxed);
  CallAdmission* const admission = admission_;
  Finish(FinishCall(metrics_, kRpc, request_->request().model().name(), context_, status, started_,
                    status.ok() ? cells_ : 0));
  // `this` may be deleted from here on (OnDone).
  admission->Leave();
}

}  // namespace genailab
