// FakeGenerativeModel: a deterministic, torch-free GenerativeModel for server tests, plus a helper that
// builds manifests and a ModelLoader over a repository folder.
//
// Behaviour (easy to assert on):
//   Encode:  mean[i][k] = sum of row i of x + k + (first covariate code, or 0); variance = 1.
//   Decode:  out[i][j] = z[i][0] + j + first code (+ library_size[i] when given).
//   Generate: out[i][j] = seed + j + first code of cell i (+ library_size), rows = n.
//   PredictPerturbation: out = x + (index of target - index of source among the conditions)
//                        (+ library_size[i]); records the last call.
// Thread-safe: the recorded last call is guarded by a mutex.
#ifndef GENAILAB_SERVER_TESTING_FAKE_GENERATIVE_MODEL_H_
#define GENAILAB_SERVER_TESTING_FAKE_GENERATIVE_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "models/generative_model.h"
#include "server/core/model_manager.h"

namespace genailab {

class FakeGenerativeModel : public GenerativeModel {
 public:
  explicit FakeGenerativeModel(ModelManifest manifest) : manifest_(std::move(manifest)) {}

  const ModelManifest& manifest() const override { return manifest_; }
  absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x, const CovariateCodes& covariates) const override;
  absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                     const std::vector<float>& library_size) const override;
  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                       float library_size, bool sample_counts) const override;
  absl::StatusOr<DenseMatrix> PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                  const std::string& source, const std::string& target,
                                                  PerturbationMethod method,
                                                  const std::vector<float>& library_size) const override;

  // What the last call received.
  struct LastCall {
    DenseMatrix x;
    CovariateCodes covariates;
    std::vector<float> library_size;
    PerturbationMethod method = PerturbationMethod::kDefault;
  };
  LastCall last_call() const;

 private:
  void Record(const DenseMatrix& x, const CovariateCodes& covariates, const std::vector<float>& library_size,
              PerturbationMethod method) const;

  const ModelManifest manifest_;
  mutable absl::Mutex mu_;
  mutable LastCall last_call_ ABSL_GUARDED_BY(mu_);
};

// A manifest with genes g0..g{n_genes-1}, latent_dim 2, gaussian "vae" without covariates.
ModelManifest FakeManifest(const std::string& name, int64_t version, int n_genes = 3);
// A "cvae" with covariates cell_type {A, B} and condition {ctrl, stim} (condition_key "condition").
ModelManifest FakeConditionalManifest(const std::string& name, int64_t version, int n_genes = 3);

// An empty folder under $TEST_TMPDIR named after the running gtest test (removed and made anew), for a
// test's model repository.
std::string FreshTestRepository();

// Writes <root>/<name>/<version>/manifest.json (manifest.ToJson()). Returns the version folder.
std::string WriteFakeVersion(const std::string& root, const ModelManifest& manifest);

// A loader that reads manifest.json with ModelManifest::FromJson and returns a FakeGenerativeModel;
// a version folder holding a file named "FAIL" fails with INTERNAL.
ModelLoader FakeModelLoader();

}  // namespace genailab

#endif  // GENAILAB_SERVER_TESTING_FAKE_GENERATIVE_MODEL_H_
