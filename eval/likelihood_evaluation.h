// ELBO and IWAE bounds of a saved model (a checkpoint version folder) on cells read from a file: the one
// part of genailab-eval that needs LibTorch (through LoadCheckpoint and the model's
// EstimateLikelihoodBounds); this header itself is torch-free. Stateless; thread-safe.
#ifndef GENAILAB_EVAL_LIKELIHOOD_EVALUATION_H_
#define GENAILAB_EVAL_LIKELIHOOD_EVALUATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "data/anndata.h"
#include "models/generative_model.h"

namespace genailab {

// Brings `cells` (in the model's input space, genes named by var_names) into model space: the model's
// gene order, its recorded preprocessing, raw counts kept for negative-binomial likelihoods, covariate
// codes from the obs columns the network is conditioned on. INVALID_ARGUMENT naming the first missing
// gene, a value outside a covariate's vocabulary, or cells without rows; NOT_FOUND for a missing obs
// column.
struct ModelSpaceCells {
  DenseMatrix x;
  DenseMatrix counts;  // negative-binomial models only
  CovariateCodes covariates;
};
absl::StatusOr<ModelSpaceCells> ToModelSpace(const ModelManifest& manifest, const AnnData& cells);

// Loads `checkpoint` (a version folder: manifest.json + weights) on `device` and estimates the bounds on
// `cells`. Errors of LoadCheckpoint, ToModelSpace and EstimateLikelihoodBounds (UNIMPLEMENTED for a
// model without latent variables).
absl::StatusOr<LikelihoodBounds> EvaluateCheckpointBounds(const std::string& checkpoint, const std::string& device,
                                                          const AnnData& cells, const LikelihoodBoundOptions& options);

}  // namespace genailab

#endif  // GENAILAB_EVAL_LIKELIHOOD_EVALUATION_H_
