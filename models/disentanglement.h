// Disentanglement metrics of a latent space against known generating factors (torch-free; thread-safe).
// latents: cells x latent dimensions; factors: cells x generating factors (discrete codes or continuous).
//
// MIG (Chen et al., 2018): every latent dimension is discretized into `bins` equal-width bins, every factor
//   with at most `bins` distinct values keeps them as categories (others are binned like latents); then
//   MIG = mean over factors k of (I(z_a; v_k) - I(z_b; v_k)) / H(v_k), with a and b the two latent
//   dimensions most informative about v_k (plug-in mutual information in nats). Constant factors are
//   skipped. 1 = each factor captured by exactly one dimension; ~0 = spread over several.
//
// DCI (Eastwood & Williams, 2018), with a linear regressor: latents and factors are standardized and each
//   factor is regressed on all latents by ridge regression; the importance R[j][k] of latent j for factor
//   k is |w_jk|, the absolute standardized weight. (The paper uses lasso or random forests; a linear
//   model's normalized absolute weights need no tuning and suffice for latents that are linear in the
//   factors, which is what this metric is used for here. It cannot credit non-linear encodings.)
//     disentanglement = sum_j rho_j (1 - H_K(R[j][.] / sum_k R[j][k])),  rho_j = sum_k R[j][k] / sum R
//     completeness    = mean_k (1 - H_D(R[.][k] / sum_j R[j][k]))
//     informativeness = mean_k R^2 of the regression of factor k (in-sample)
//   with H_K the entropy in base K (number of factors) and H_D in base D (latent dimensions).
#ifndef GENAILAB_MODELS_DISENTANGLEMENT_H_
#define GENAILAB_MODELS_DISENTANGLEMENT_H_

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

// INVALID_ARGUMENT naming the field: row counts differ, fewer than 2 latent dimensions, no factor, bins
// < 2, fewer than 2 cells, non-finite values, or every factor constant.
absl::StatusOr<double> MutualInformationGap(const DenseMatrix& latents, const DenseMatrix& factors, int bins = 20);

struct DciScores {
  double disentanglement = 0.0;
  double completeness = 0.0;
  double informativeness = 0.0;
  DenseMatrix importance;  // latent dimensions x factors: R[j][k]
};

// INVALID_ARGUMENT naming the field: row counts differ, fewer than 2 latent dimensions or factors, fewer
// cells than latent dimensions, non-finite values, ridge < 0, a constant factor, or all importances 0.
absl::StatusOr<DciScores> ComputeDci(const DenseMatrix& latents, const DenseMatrix& factors, double ridge = 1e-3);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DISENTANGLEMENT_H_
