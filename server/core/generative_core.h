// GenerativeCore: the transport-free implementation of genailab.v1.GenerativeService. Each method takes
// a request message and returns the response or an absl::Status with the proto's error conventions:
// NOT_FOUND for an unknown model or version; INVALID_ARGUMENT, naming the offending field, for malformed
// or inconsistent input (shapes, NaN/Inf, genes, covariates, cell counts over max_cells_per_request);
// UNIMPLEMENTED when the model does not support the RPC; and whatever the model itself returns.
//
// Per request it resolves the model through the ModelManager (holding a shared_ptr for the request's
// duration), decodes matrices, matches genes to the model's order, applies the model's preprocessing to
// request cells, maps covariates to codes, calls the model and builds the response (expression named
// with the model's genes, latent columns named z0..z{d-1}; no names when the request sets
// omit_column_names).
//
// Scheduling: model work goes through the served version's schedulers (ServableModel::Submit): Encode,
// Decode and one-shot PredictPerturbation as RowTasks of at most Options.split_cells rows each (a larger
// request is split, its parts batched with other requests' rows and merged back in order); Generate as
// one GenerateTask per seed block; iterative models (non-empty Samplers()) through the StepScheduler.
// Every call takes a CallContext: its deadline and cancellation are honoured in the queues and between
// sampler steps (DEADLINE_EXCEEDED / CANCELLED); a full queue answers RESOURCE_EXHAUSTED with a retry
// hint (RetryAfter in batch_scheduler.h).
//
// Seeding of generated cells: the cells of a Generate request are made in seed blocks of
// kGenerateBlockCells cells; block b draws from BlockSeed(seed, b) (block 0 uses the request's seed
// itself). Generate and GenerateStream therefore give the same cells for the same request, whatever
// the stream's chunk size.
//
// Ownership: does not own the manager, which must outlive the core. Thread-safe (stateless besides the
// thread-safe manager).
#ifndef GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_
#define GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genailab/v1/generative_service.pb.h"
#include "server/core/generation_stream.h"
#include "server/core/model_manager.h"
#include "server/core/model_tasks.h"
#include "server/core/request_completion.h"

namespace genailab {

// Cells per seed block of Generate (see above). Part of the results' contract: changing it changes
// the cells of requests larger than one block.
inline constexpr int64_t kGenerateBlockCells = 4096;
// The seed of block `block` of a request seeded with `seed` (block 0: `seed`).
uint64_t BlockSeed(uint64_t seed, int64_t block);

class GenerativeCore {
 public:
  struct Options {
    // Most cells one request may carry or ask for (Encode/Decode/PredictPerturbation rows, Generate's
    // sum of n_cells).
    int64_t max_cells_per_request = 100000;
    // Row-wise requests are split into tasks of at most this many rows (0 = never split). Usually the
    // batcher's max_batch_cells.
    int64_t split_cells = 0;
    // GenerateStream: cells per message when the request says 0, and the most cells one stream may
    // ask for.
    int64_t default_chunk_cells = 4096;
    int64_t max_stream_cells = 10000000;
  };
  // Receives one GenerateStream message; false = the client is gone (the stream ends CANCELLED).
  using StreamWriter = std::function<bool(const v1::GenerateResponse&)>;

  // INVALID_ARGUMENT for a null manager or max_cells_per_request <= 0.
  static absl::StatusOr<std::unique_ptr<GenerativeCore>> Create(ModelManager* manager,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<GenerativeCore>> Create(ModelManager* manager) {
    return Create(manager, Options());
  }

  // Asynchronous Encode, Decode, Generate and PredictPerturbation. The response is written into
  // `*response` (which may live on the caller's arena), then `done` receives OK; or `done` receives the
  // error. `done` is called exactly once: at once on the calling thread for a request refused before it
  // reaches a scheduler, otherwise on a scheduler's worker thread right after the model ran, where the
  // response is built, so `done` must be quick and must not block. `request` need not outlive the call;
  // `response` must stay valid until `done` is called. No thread waits for the model: the gRPC layer
  // finishes its call from `done`.
  void EncodeAsync(const v1::EncodeRequest& request, const CallContext& call, v1::EncodeResponse* response,
                   StatusCallback done) const;
  void DecodeAsync(const v1::DecodeRequest& request, const CallContext& call, v1::DecodeResponse* response,
                   StatusCallback done) const;
  void GenerateAsync(const v1::GenerateRequest& request, const CallContext& call, v1::GenerateResponse* response,
                     StatusCallback done) const;
  void PredictPerturbationAsync(const v1::PredictPerturbationRequest& request, const CallContext& call,
                                v1::PredictPerturbationResponse* response, StatusCallback done) const;

  // Synchronous forms: the asynchronous call plus a wait that honours the call's deadline and
  // cancellation.
  absl::StatusOr<v1::ListModelsResponse> ListModels(const v1::ListModelsRequest& request,
                                                    const CallContext& call = CallContext()) const;
  absl::StatusOr<v1::GetModelResponse> GetModel(const v1::GetModelRequest& request,
                                                const CallContext& call = CallContext()) const;
  absl::StatusOr<v1::EncodeResponse> Encode(const v1::EncodeRequest& request,
                                            const CallContext& call = CallContext()) const;
  absl::StatusOr<v1::DecodeResponse> Decode(const v1::DecodeRequest& request,
                                            const CallContext& call = CallContext()) const;
  absl::StatusOr<v1::GenerateResponse> Generate(const v1::GenerateRequest& request,
                                                const CallContext& call = CallContext()) const;
  absl::StatusOr<v1::PredictPerturbationResponse> PredictPerturbation(
      const v1::PredictPerturbationRequest& request, const CallContext& call = CallContext()) const;
  // GenerateStream: validates the request (errors as Generate's, and INVALID_ARGUMENT for a negative
  // chunk_cells) and starts making its cells, in messages of chunk_cells cells (the last may be
  // shorter) that carry their cells' covariates. Up to one seed block per model instance (at least two)
  // is made ahead of the reader (see GenerationStream). The call's deadline and cancellation stop the
  // blocks not yet made.
  absl::StatusOr<std::shared_ptr<GenerationStream>> StartGenerateStream(const v1::GenerateStreamRequest& request,
                                                                        const CallContext& call) const;
  // The synchronous form: the stream's messages handed to `write` in order, waiting for each.
  // CANCELLED when `write` fails.
  absl::Status GenerateStream(const v1::GenerateStreamRequest& request, const CallContext& call,
                              const StreamWriter& write) const;
  // Loads a version (see ModelManager::LoadModel) and describes it.
  absl::StatusOr<v1::LoadModelResponse> LoadModel(const v1::LoadModelRequest& request,
                                                  const CallContext& call = CallContext()) const;
  // Retires a version, or all (see ModelManager::UnloadModel).
  absl::StatusOr<v1::UnloadModelResponse> UnloadModel(const v1::UnloadModelRequest& request,
                                                      const CallContext& call = CallContext()) const;

  // Fills every ModelInfo field of a served model; `manager` (may be null) adds loaded_versions and
  // versions with their states.
  static void FillModelInfo(const ServableModel& servable, const ModelManager* manager, v1::ModelInfo* info);

  // The served version `spec` names (version 0 = the newest), as every RPC above resolves it: for
  // adapters of other protocols that need a model's genes and shapes per call without GetModel's full
  // description. INVALID_ARGUMENT for a missing or malformed name or a negative version, NOT_FOUND for a
  // model or version that is not served.
  absl::StatusOr<std::shared_ptr<const ServableModel>> ResolveModel(const v1::ModelSpec& spec) const;

  const Options& options() const { return options_; }

 private:
  GenerativeCore(ModelManager* manager, Options options) : manager_(manager), options_(options) {}

  // INVALID_ARGUMENT naming `field` unless 0 < cells <= max_cells_per_request.
  absl::Status CheckCellCount(int64_t cells, const std::string& field) const;

  // A validated Generate request.
  struct GeneratePlan {
    std::shared_ptr<const ServableModel> servable;
    GenerateArgs args;  // all cells
    SamplerOptions sampler;
    std::map<std::string, std::vector<std::string>> cell_covariates;
    bool omit_column_names = false;
  };
  absl::StatusOr<GeneratePlan> PlanGenerate(const v1::GenerateRequest& request, int64_t max_cells) const;
  // Cells of seed blocks [first_block, end_block) of `plan`, all submitted at once, checked and merged
  // in order; `done` as for the *Async methods. `plan` need not outlive the call.
  void GenerateBlocksAsync(const GeneratePlan& plan, int64_t first_block, int64_t end_block,
                           const CallContext& call, Callback<DenseMatrix> done) const;
  // Runs a row-wise call through the servable's batcher, split into tasks of split_cells rows whose
  // outputs are merged back in order; `done` as for the *Async methods.
  void RunRowsAsync(const ServableModel& servable, const std::string& key, RowInput input,
                    const RowFunction& function, const CallContext& call, Callback<RowOutput> done) const;
  // The bodies of the *Async methods. They return an error only while `done` is still theirs to call
  // (the request was refused before any task was submitted); once they hand `done` on, they return OK.
  absl::Status StartEncode(const v1::EncodeRequest& request, const CallContext& call, v1::EncodeResponse* response,
                           StatusCallback& done) const;
  absl::Status StartDecode(const v1::DecodeRequest& request, const CallContext& call, v1::DecodeResponse* response,
                           StatusCallback& done) const;
  absl::Status StartPredictPerturbation(const v1::PredictPerturbationRequest& request, const CallContext& call,
                                        v1::PredictPerturbationResponse* response, StatusCallback& done) const;

  ModelManager* const manager_;
  const Options options_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GENERATIVE_CORE_H_
