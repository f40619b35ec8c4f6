// The ModelTasks and SessionTasks that GenerativeCore hands to a model's schedulers:
//
//   RowTask: a row-wise call (Encode, Decode, one-shot PredictPerturbation). Tasks with the same
//     batch_key (the call and every argument that is not per row) are merged into ONE model call on
//     the concatenated rows, and each task gets its own rows back; a row-wise model gives every request
//     the same result as alone.
//   GenerateTask: one seeded Generate call. The tasks of a batch run as ONE GenerativeModel::GenerateBatch
//     call: the model draws each task's latents (and count noise) from a generator seeded by that task,
//     runs one decoder pass over all of them and splits the result, so a request's cells never depend
//     on its batch companions (bit for bit).
//   GenerationSessionTask / PerturbationSessionTask: iterative sampling through a StepScheduler.
//
// Every task completes its RequestCompletion exactly once. Thread-safety: as BatchTask.
#ifndef GENAILAB_SERVER_CORE_MODEL_TASKS_H_
#define GENAILAB_SERVER_CORE_MODEL_TASKS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/generative_model.h"
#include "server/core/model_task.h"
#include "server/core/request_completion.h"
#include "server/core/step_scheduler.h"

namespace genailab {

// The per-row inputs of a row-wise call.
struct RowInput {
  DenseMatrix x;
  CovariateCodes codes;
  // Empty, or one per row (all tasks of a batch agree: the batch key says which).
  std::vector<float> library_size;
};

// The per-row outputs: `first` always, `second` for calls with two outputs (Encode's variance).
struct RowOutput {
  DenseMatrix first;
  DenseMatrix second;
};

using RowFunction = std::function<absl::StatusOr<RowOutput>(const GenerativeModel&, const RowInput&)>;

// Rows [begin, end) of `m`.
DenseMatrix SliceRows(const DenseMatrix& m, int64_t begin, int64_t end);
// Appends the rows of `tail` (same cols, or `m` empty) to `m`.
void AppendRows(const DenseMatrix& tail, DenseMatrix* m);
// Codes of rows [begin, end) of every covariate.
CovariateCodes SliceCodes(const CovariateCodes& codes, int64_t begin, int64_t end);

class RowTask final : public ModelTask {
 public:
  RowTask(std::string key, RowInput input, RowFunction function,
          std::shared_ptr<RequestCompletion<RowOutput>> completion)
      : key_(std::move(key)), input_(std::move(input)), function_(std::move(function)),
        completion_(std::move(completion)) {}

  int64_t cells() const override { return input_.x.rows; }
  std::string batch_key() const override { return key_; }
  void Fail(const absl::Status& status) override { completion_->Set(status); }
  // One call of the head's function on the concatenation of the batch's rows; INTERNAL for every
  // task when the model answers with the wrong number of rows.
  void RunBatch(const GenerativeModel& model, std::vector<std::unique_ptr<BatchTask>>& batch) override;

 private:
  const std::string key_;
  RowInput input_;
  const RowFunction function_;
  const std::shared_ptr<RequestCompletion<RowOutput>> completion_;
};

struct GenerateArgs {
  int64_t n = 0;
  CovariateCodes codes;
  uint64_t seed = 0;
  float library_size = 0.0f;
  bool sample_counts = false;
};

class GenerateTask final : public ModelTask {
 public:
  GenerateTask(GenerateArgs args, std::shared_ptr<RequestCompletion<DenseMatrix>> completion)
      : args_(std::move(args)), completion_(std::move(completion)) {}

  int64_t cells() const override { return args_.n; }
  std::string batch_key() const override { return "generate"; }
  void Fail(const absl::Status& status) override { completion_->Set(status); }
  void RunBatch(const GenerativeModel& model, std::vector<std::unique_ptr<BatchTask>>& batch) override;

 private:
  const GenerateArgs args_;
  const std::shared_ptr<RequestCompletion<DenseMatrix>> completion_;
};

class GenerationSessionTask final : public SessionTask {
 public:
  GenerationSessionTask(GenerateArgs args, SamplerOptions sampler,
                        std::shared_ptr<RequestCompletion<DenseMatrix>> completion)
      : args_(std::move(args)), sampler_(std::move(sampler)), completion_(std::move(completion)) {}

  int64_t cells() const override { return args_.n; }
  void Fail(const absl::Status& status) override { completion_->Set(status); }
  absl::StatusOr<std::unique_ptr<SamplingSession>> Begin(const GenerativeModel& model) override {
    absl::StatusOr<std::unique_ptr<SamplingSession>> session =
        model.BeginGeneration(args_.n, args_.codes, args_.seed, sampler_);
    if (session.ok() && args_.library_size > 0) {
      (*session)->SetLibrarySize(std::vector<float>(static_cast<size_t>(args_.n), args_.library_size));
    }
    return session;
  }
  void Finish(absl::StatusOr<DenseMatrix> cells) override { completion_->Set(std::move(cells)); }

 private:
  const GenerateArgs args_;
  const SamplerOptions sampler_;
  const std::shared_ptr<RequestCompletion<DenseMatrix>> completion_;
};

struct PerturbationArgs {
  DenseMatrix x;
  CovariateCodes codes;
  std::string source;
  std::string target;
  uint64_t seed = 0;
  SamplerOptions sampler;
  // Per row, for negative-binomial models (empty = the training median).
  std::vector<float> library_size;
};

class PerturbationSessionTask final : public SessionTask {
 public:
  PerturbationSessionTask(PerturbationArgs args, std::shared_ptr<RequestCompletion<DenseMatrix>> completion)
      : args_(std::move(args)), completion_(std::move(completion)) {}

  int64_t cells() const override { return args_.x.rows; }
  void Fail(const absl::Status& status) override { completion_->Set(status); }
  absl::StatusOr<std::unique_ptr<SamplingSession>> Begin(const GenerativeModel& model) override {
    absl::StatusOr<std::unique_ptr<SamplingSession>> session =
        model.BeginPerturbation(args_.x, args_.codes, args_.source, args_.target, args_.seed, args_.sampler);
    if (session.ok() && !args_.library_size.empty()) (*session)->SetLibrarySize(args_.library_size);
    return session;
  }
  void Finish(absl::StatusOr<DenseMatrix> cells) override { completion_->Set(std::move(cells)); }

 private:
  const PerturbationArgs args_;
  const std::shared_ptr<RequestCompletion<DenseMatrix>> completion_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_MODEL_TASKS_H_
