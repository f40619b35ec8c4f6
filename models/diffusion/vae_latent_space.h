// VaeLatentSpace: the latent space of a trained VAE / cVAE as the space a diffusion or flow-matching model
// samples in (representation "vae_latent"). Cells go in through the VAE's encoder (posterior means) and
// sampled latents come out through its decoder, which applies the covariates and, for negative-binomial
// VAEs, the library size exactly as the VAE itself does.
//
// Covariates: the iterative model's manifest lists every covariate the VAE is conditioned on (same name,
// same values in the same order) and possibly more; VaeLatentSpace picks the VAE's columns out of the
// iterative model's codes. Torch-free: it uses the VAE only through GenerativeModel.
// Ownership: shares the VAE (which the checkpoint loader or the trainer made). Thread-safe (const only).
#ifndef GENAILAB_MODELS_DIFFUSION_VAE_LATENT_SPACE_H_
#define GENAILAB_MODELS_DIFFUSION_VAE_LATENT_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"

namespace genailab {

class VaeLatentSpace {
 public:
  // INVALID_ARGUMENT naming what differs when `vae` is not a "vae" / "cvae" model, has other genes or
  // another preprocessing than `manifest` (the iterative model's), or is conditioned on a covariate that
  // `manifest` lacks or whose values differ.
  static absl::StatusOr<std::unique_ptr<VaeLatentSpace>> Create(const ModelManifest& manifest,
                                                                std::shared_ptr<const GenerativeModel> vae);

  const GenerativeModel& vae() const { return *vae_; }
  int64_t latent_dim() const { return vae_->manifest().latent_dim; }
  // Whether the decoder needs covariates (a cVAE): generation then needs every covariate's value.
  bool conditional() const { return !vae_columns_.empty(); }

  // The VAE's posterior q(z | x) for cells x (cells x genes) under `covariates` (the iterative model's
  // codes, one column per manifest covariate; empty for a model without covariates).
  absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x, const CovariateCodes& covariates) const;
  // The VAE's decoder mean for latents z (cells x latent_dim). INVALID_ARGUMENT when a covariate the VAE
  // needs is missing or the null code (an unconditional row).
  absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                     const std::vector<float>& library_size) const;

 private:
  VaeLatentSpace(std::shared_ptr<const GenerativeModel> vae, std::vector<int> vae_columns,
                 std::vector<int64_t> cardinalities);
  // The VAE's columns of the iterative model's codes; INVALID_ARGUMENT for a missing column or a code out
  // of the VAE's vocabulary (the null code included).
  absl::StatusOr<CovariateCodes> VaeCodes(const CovariateCodes& covariates, int64_t rows) const;

  const std::shared_ptr<const GenerativeModel> vae_;
  const std::vector<int> vae_columns_;       // VAE covariate k = column vae_columns_[k] of the model's codes
  const std::vector<int64_t> cardinalities_;  // of the VAE's covariates
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_VAE_LATENT_SPACE_H_
