#include "server/testing/fake_iterative_model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

class FakeSession : public SamplingSession {
 public:
  FakeSession(const FakeIterativeModel* owner, DenseMatrix x, std::vector<int64_t> first_codes, uint64_t seed,
              int steps, bool generation)
      : owner(owner), x(std::move(x)), first_codes(std::move(first_codes)), seed(seed), steps(steps),
        generation(generation) {}
  int64_t rows() const override { return x.rows; }
  int steps_total() const override { return steps; }
  int steps_done() const override { return done_steps; }
  void SetLibrarySize(std::vector<float> sizes) override { library_size = std::move(sizes); }

  const FakeIterativeModel* const owner;
  const DenseMatrix x;
  const std::vector<int64_t> first_codes;
  const uint64_t seed;
  const int steps;
  const bool generation;
  int done_steps = 0;
  std::vector<float> library_size;
};

absl::StatusOr<int> Steps(const SamplerOptions& sampler, const std::vector<std::string>& samplers) {
  if (!sampler.sampler.empty() && std::find(samplers.begin(), samplers.end(), sampler.sampler) == samplers.end()) {
    return absl::InvalidArgumentError(absl::StrCat("fake iterative model: unknown sampler '", sampler.sampler, "'"));
  }
  return sampler.steps > 0 ? sampler.steps : 3;
}

}  // namespace

absl::StatusOr<DenseMatrix> FakeIterativeModel::Generate(int64_t, const CovariateCodes&, uint64_t, float,
                                                         bool) const {
  return absl::UnimplementedError("fake iterative model: use BeginGeneration");
}

absl::StatusOr<std::unique_ptr<SamplingSession>> FakeIterativeModel::BeginGeneration(
    int64_t n, const CovariateCodes& covariates, uint64_t seed, const SamplerOptions& sampler) const {
  GENAILAB_ASSIGN_OR_RETURN(const int steps, Steps(sampler, Samplers()));
  std::vector<int64_t> first_codes = covariates.empty() ? std::vector<int64_t>(static_cast<size_t>(n), 0)
                                                        : covariates[0];
  return std::unique_ptr<SamplingSession>(new FakeSession(
      this, DenseMatrix(n, static_cast<int64_t>(manifest().gene_names.size())), std::move(first_codes), seed, steps,
      /*generation=*/true));
}

absl::StatusOr<std::unique_ptr<SamplingSession>> FakeIterativeModel::BeginPerturbation(
    const DenseMatrix& x, const CovariateCodes&, const std::string&, const std::string&, uint64_t seed,
    const SamplerOptions& sampler) const {
  GENAILAB_ASSIGN_OR_RETURN(const int steps, Steps(sampler, Samplers()));
  return std::unique_ptr<SamplingSession>(new FakeSession(this, x, {}, seed, steps, /*generation=*/false));
}

absl::Status FakeIterativeModel::StepSessions(const std::vector<SamplingSession*>& sessions) const {
  std::vector<uint64_t> seeds;
  for (SamplingSession* session : sessions) {
    auto* fake = dynamic_cast<FakeSession*>(session);
    if (fake == nullptr || fake->owner != this) return absl::InvalidArgumentError("fake: foreign session");
    if (fake->done()) return absl::InvalidArgumentError("fake: session already done");
    seeds.push_back(fake->seed);
  }
  std::function<void(int)> hook;
  int index = 0;
  {
    absl::MutexLock lock(&mu_);
    index = static_cast<int>(step_batches_.size());
    step_batches_.push_back(seeds);
    hook = step_hook_;
  }
  if (hook) hook(index);
  for (SamplingSession* session : sessions) ++static_cast<FakeSession*>(session)->done_steps;
  return absl::OkStatus();
}

absl::StatusOr<DenseMatrix> FakeIterativeModel::FinishSession(SamplingSession* session) const {
  auto* fake = dynamic_cast<FakeSession*>(session);
  if (fake == nullptr || fake->owner != this) return absl::InvalidArgumentError("fake: foreign session");
  if (!fake->done()) return absl::FailedPreconditionError("fake: session not done");
  DenseMatrix out = fake->x;
  for (int64_t i = 0; i < out.rows; ++i) {
    for (int64_t j = 0; j < out.cols; ++j) {
      if (fake->generation) {
        out.at(i, j) = static_cast<float>(fake->seed) + static_cast<float>(j + fake->first_codes[static_cast<size_t>(i)]) +
                       1000.0f * static_cast<float>(fake->steps);
      } else {
        out.at(i, j) += static_cast<float>(fake->steps);
      }
    }
  }
  if (!fake->library_size.empty()) {
    for (int64_t i = 0; i < out.rows; ++i) {
      for (int64_t j = 0; j < out.cols; ++j) out.at(i, j) += 10000.0f * fake->library_size[static_cast<size_t>(i)];
    }
  }
  return out;
}

std::vector<std::vector<uint64_t>> FakeIterativeModel::step_batches() const {
  absl::MutexLock lock(&mu_);
  return step_batches_;
}

void FakeIterativeModel::set_step_hook(std::function<void(int)> hook) {
  absl::MutexLock lock(&mu_);
  step_hook_ = std::move(hook);
}

ModelLoader FakeIterativeModelLoader() {
  return [](const std::string& directory, const std::string& device) -> absl::StatusOr<std::unique_ptr<GenerativeModel>> {
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<GenerativeModel> plain, FakeModelLoader()(directory, device));
    return std::unique_ptr<GenerativeModel>(new FakeIterativeModel(plain->manifest()));
  };
}

}  // namespace genailab
