// Training diffusion and flow-matching models (torch-free header): the entry point the trainer calls for
// model_type "diffusion" and "flow_matching", next to TrainVae. It shares TrainVae's data, options, epoch
// report and trained-model types (TrainedVae is the generic "trained model + Save" interface).
//
// What it does: fits a PCA basis on the training cells (manifest hyperparameter pca_components; the model
// works in these coordinates scaled to unit average variance; the basis, mean and scale are saved with the
// weights) -- or, with representation "vae_latent", trains a VAE / cVAE on the same cells with the
// manifest's VAE fields (or loads the checkpoint folder in vae_checkpoint), encodes the cells to posterior
// means and fits the same (full-rank) basis on those -- then trains a DenoiserNetwork with Adam:
//   diffusion      denoising score matching, t ~ U[1e-3, 1], x_t = a(t) x0 + s(t) eps, loss
//                  w(t) |eps_hat - eps|^2: |eps_hat - eps|^2 (prediction "noise"), |s(t) score_hat + eps|^2
//                  (prediction "score", the lambda(t) = s(t)^2 weighting) or the EDM denoiser's
//                  preconditioned regression (prediction "denoiser"; DiffusionModel::LossWeight);
//   flow_matching  conditional flow matching on the straight path, loss |v_hat(x_t, t) - (x1 - x0)|^2, with
//                  x0 ~ N(0, I) paired to the batch's cells by exact mini-batch OT (Hungarian algorithm,
//                  within rows of identical covariates) when ot_pairing is on.
// Classifier-free guidance: with probability covariate_dropout a row's covariates all become the null
// token. Perturbation (when the manifest's condition_key is one of its covariates): each cell is paired with
// a random training cell of the control condition sharing its other covariates; the diffusion network sees
// that control cell as context (dropped with probability context_dropout), and the flow additionally
// learns the control -> cell flow (OT-paired within the group), flagged as starting from a control cell.
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_TRAINING_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_TRAINING_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "models/model_manifest.h"
#include "models/vae_training.h"

namespace genailab {

// `manifest` gives model_type ("diffusion" | "flow_matching"), gene_names, covariates, condition_key,
// hidden_dims, covariate_embedding_dim and the model options in `hyperparameters` (see
// IterativeModelOptions). Training sets latent_dim to the PCA components used, records the resolved
// options and fills training_metrics (loss, validation_loss, cells_per_second, epochs). EpochReport.loss
// (and .reconstruction) is the mean training loss; kl is 0. Of VaeTrainingOptions it honours epochs,
// batch_size, learning_rate with lr_schedule, gradient_clip_norm, seed, device, intra_op_threads and
// cancelled (CANCELLED); the KL, IWAE, early-stopping and batch-shard options do not apply.
// INVALID_ARGUMENT naming the field for inconsistent data/manifest/options, for distributed.world_size > 1,
// a checkpoint_path and mixed_precision (none is supported yet); INTERNAL if training diverges or torch fails.
// vae_latent: latent_dim is the VAE's; the VAE's own training reports no epochs to on_epoch; errors of
// training it are prefixed "training the latent VAE: ", of loading vae_checkpoint "vae_checkpoint: "
// (NOT_FOUND for a missing folder), and a VAE that does not fit is INVALID_ARGUMENT (VaeLatentSpace).
// The saved checkpoint holds the VAE checkpoint in its sub-folder kLatentVaeFolder.
absl::StatusOr<std::unique_ptr<TrainedVae>> TrainIterativeModel(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_TRAINING_H_
