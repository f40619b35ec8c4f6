// KServeAdapter: the Open Inference Protocol (KServe v2, package `inference`) over GenerativeCore,
// transport-free. It maps v2 tensors onto genailab.v1 requests, runs them through the same core as
// GenerativeService (so the same models, versions, validation and limits apply) and maps the results
// back. The tensor conventions (names, datatypes, shapes, the "rpc" parameter) are in
// server/kserve/README.md.
//
// Errors: INVALID_ARGUMENT naming the tensor or parameter for requests that break the conventions
// (unknown rpc, missing or extra tensor, wrong datatype, shape or element count, bad version string);
// otherwise the core's codes (NOT_FOUND for an unknown model or version, INVALID_ARGUMENT, UNIMPLEMENTED).
//
// Ownership: borrows the core, which must outlive the adapter. Thread-safety: stateless; thread-safe.
#ifndef GENAILAB_SERVER_KSERVE_KSERVE_ADAPTER_H_
#define GENAILAB_SERVER_KSERVE_KSERVE_ADAPTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "kserve/grpc_predict_v2.pb.h"
#include "server/core/generative_core.h"

namespace genailab {

class KServeAdapter {
 public:
  explicit KServeAdapter(const GenerativeCore* core) : core_(core) {}

  // Every method takes the call's deadline and cancellation (server/core/request_completion.h), honoured
  // by the core as for GenerativeService.

  // Ready = at least one model is served.
  bool ServerReady(const CallContext& call = CallContext()) const;
  // Ready = `name` (at `version`; "" = newest) is served. INVALID_ARGUMENT for a version that is not an
  // integer; unknown models are simply not ready.
  absl::StatusOr<bool> ModelReady(const std::string& name, const std::string& version,
                                  const CallContext& call = CallContext()) const;

  // Lists the default rpc's ("encode") tensors: input "cells" FP32 [-1, genes], one BYTES [-1] input per
  // covariate, outputs "latent_mean" / "latent_variance" FP32 [-1, latent_dim]. platform is
  // "genailab_<model_type>"; versions are the loaded versions.
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(const inference::ModelMetadataRequest& request,
                                                                 const CallContext& call = CallContext()) const;

  // Asynchronous ModelInfer, as GenerativeCore's *Async methods: the outputs are written into
  // `*response` (which may live on the caller's arena), then `done` receives OK; or `done` receives the
  // error, exactly once: at once on the calling thread for a request refused before it reaches a
  // scheduler, otherwise on a scheduler's worker thread, where the outputs are written. `request` need
  // not outlive the call; `response` must stay valid until `done` is called.
  void ModelInferAsync(const inference::ModelInferRequest& request, const CallContext& call,
                       inference::ModelInferResponse* response, StatusCallback done) const;
  // The synchronous form: ModelInferAsync plus a wait that honours the call's deadline and cancellation.
  absl::StatusOr<inference::ModelInferResponse> ModelInfer(const inference::ModelInferRequest& request,
                                                           const CallContext& call = CallContext()) const;

 private:
  // The body of ModelInferAsync. Returns an error only while `done` is still its caller's to call.
  absl::Status StartModelInfer(const inference::ModelInferRequest& request, const CallContext& call,
                               inference::ModelInferResponse* response, StatusCallback& done) const;

  const GenerativeCore* const core_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_KSERVE_KSERVE_ADAPTER_H_
