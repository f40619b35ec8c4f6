// FakeIterativeModel: a torch-free model that samples iteratively (like diffusion / flow matching), for
// tests of step-level batching. It extends FakeGenerativeModel (Encode/Decode as there) and:
//   Generate: UNIMPLEMENTED (iterative only). Samplers: {"euler", "heun"}.
//   BeginGeneration(n, codes, seed, sampler): a session of n rows and sampler.steps steps (default 3).
//   StepSessions: records the seeds of the sessions it advanced (one entry per call), then runs the
//     step hook (if any) with the call's index, then advances each session by one step.
//   FinishSession: out[i][j] = seed + j + first code of row i + 1000 * steps.
//   BeginPerturbation: a session over x; FinishSession gives x + steps.
//   SetLibrarySize on a session adds 10000 * library_size[i] to every value of row i.
// Thread-safety: the recorded steps and the hook are guarded by a mutex; sessions by their scheduler.
#ifndef GENAILAB_SERVER_TESTING_FAKE_ITERATIVE_MODEL_H_
#define GENAILAB_SERVER_TESTING_FAKE_ITERATIVE_MODEL_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/model_manager.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {

class FakeIterativeModel : public FakeGenerativeModel {
 public:
  explicit FakeIterativeModel(ModelManifest manifest) : FakeGenerativeModel(std::move(manifest)) {}

  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                       float library_size, bool sample_counts) const override;
  absl::StatusOr<std::unique_ptr<SamplingSession>> BeginGeneration(int64_t n, const CovariateCodes& covariates,
                                                                   uint64_t seed,
                                                                   const SamplerOptions& sampler) const override;
  absl::StatusOr<std::unique_ptr<SamplingSession>> BeginPerturbation(const DenseMatrix& x,
                                                                     const CovariateCodes& covariates,
                                                                     const std::string& source,
                                                                     const std::string& target, uint64_t seed,
                                                                     const SamplerOptions& sampler) const override;
  absl::Status StepSessions(const std::vector<SamplingSession*>& sessions) const override;
  absl::StatusOr<DenseMatrix> FinishSession(SamplingSession* session) const override;
  std::vector<std::string> Samplers() const override { return {"euler", "heun"}; }

  // The seeds advanced by each StepSessions call, in call order.
  std::vector<std::vector<uint64_t>> step_batches() const;
  // Runs inside every StepSessions call (with the call's 0-based index), e.g. to hold a step.
  void set_step_hook(std::function<void(int)> hook);

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::vector<uint64_t>> step_batches_ ABSL_GUARDED_BY(mu_);
  std::function<void(int)> step_hook_ ABSL_GUARDED_BY(mu_);
};

// A loader like FakeModelLoader whose models are FakeIterativeModels.
ModelLoader FakeIterativeModelLoader();

}  // namespace genailab

#endif  // GENAILAB_SERVER_TESTING_FAKE_ITERATIVE_MODEL_H_
