// GenerativeModel: the torch-free face of a trained, loaded model. The server core and the client-side
// tools hold models through this interface, so only models/*.cc include torch.
//
// All matrices are in the model's gene order and already preprocessed (see Preprocessing); covariates
// are given as codes (indices into each CovariateSpec's values), one column per manifest covariate in
// manifest order, each with one code per row. Callers validate shapes and vocabularies first
// (CovariateCodes from covariate_codes.h); implementations still return INVALID_ARGUMENT rather than crash
// on a mismatch, and INTERNAL if torch throws.
//
// Thread-safety: every method is safe to call concurrently once the model is constructed (inference only,
// no mutable state). Ownership: the caller owns the model; it owns its weights and device memory.
#ifndef GENAILAB_MODELS_GENERATIVE_MODEL_H_
#define GENAILAB_MODELS_GENERATIVE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/model_manifest.h"

namespace genailab {

// covariates[k][i] = code of covariate k for row i. Empty for models without covariates.
using CovariateCodes = std::vector<std::vector<int64_t>>;

struct LatentPosterior {
  DenseMatrix mean;      // cells x latent_dim
  DenseMatrix variance;  // cells x latent_dim
};

enum class PerturbationMethod { kDefault, kLatentArithmetic, kCounterfactual };

class GenerativeModel {
 public:
  virtual ~GenerativeModel() = default;

  virtual const ModelManifest& manifest() const = 0;

  // Posterior q(z | x, covariates). x: cells x genes (preprocessed).
  virtual absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x,
                                                 const CovariateCodes& covariates) const = 0;

  // Decoder mean in the output space. library_size: one per row for negative-binomial models (empty =
  // the manifest's median); ignored for Gaussian ones.
  virtual absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                             const std::vector<float>& library_size) const = 0;

  // One cell per row of `covariates` (rows = n when the model has no covariates), z ~ N(0, I) from a
  // generator seeded with `seed`: the same arguments give the same cells. sample_counts draws NB counts
  // instead of returning the mean (negative-binomial models only).
  virtual absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates,
                                               uint64_t seed, float library_size,
                                               bool sample_counts) const = 0;

  // Predicts each cell of x (observed under condition `source`) under condition `target` of the
  // manifest's condition_key. For a model conditioned on the condition covariate, `covariates` holds
  // every covariate with the condition column already set to source's code. library_size per row for
  // negative-binomial models (empty = the manifest's median). INVALID_ARGUMENT for an unknown source or
  // target; FAILED_PRECONDITION when the model lacks what the method needs (no condition key,
  // counterfactual on a model not conditioned on the condition, no latent mean for a condition).
  virtual absl::StatusOr<DenseMatrix> PredictPerturbation(const DenseMatrix& x,
                                                          const CovariateCodes& covariates,
                                                          const std::string& source,
                                                          const std::string& target,
                                                          PerturbationMethod method,
                                                          const std::vector<float>& library_size) const = 0;
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_GENERATIVE_MODEL_H_
