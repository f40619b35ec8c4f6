// TrainingJob: one training run from a data file to a published model version — read the file, hold out
// cells, preprocess, split off validation cells, train, compute the manifest, publish atomically.
// Torch-free (training itself runs in models/vae_training). One job per object; Run() once.
#ifndef GENAILAB_TRAINER_TRAINING_JOB_H_
#define GENAILAB_TRAINER_TRAINING_JOB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/anndata.h"
#include "models/vae_training.h"
#include "trainer/version_publisher.h"

namespace genailab {

// Publish only when a final training metric lies within bounds (inclusive; unset = unbounded).
struct QualityGate {
  // A key of the manifest's training_metrics, e.g. "validation_loss" or "loss".
  std::string metric = "validation_loss";
  std::optional<double> min_value;
  std::optional<double> max_value;
  bool enabled() const { return min_value.has_value() || max_value.has_value(); }
};

struct TrainingJobSpec {
  // Data: an .h5ad (layer "X", "raw/X" or "layers/<name>") or .csv/.tsv file.
  std::string data_path;
  std::string layer = "X";
  // obs columns the model is conditioned on (model_type "cvae"); vocabularies come from every cell of the
  // file, held-out ones included, so a held-out combination can still be requested.
  std::vector<std::string> covariate_keys;
  // obs column holding the perturbation condition (for PredictPerturbation); may be empty.
  std::string condition_key;
  // Cells matching any of these "key=value,..." filters are left out of training.
  std::vector<std::string> holdout;
  // "vae" | "cvae" | "diffusion" | "flow_matching".
  std::string model_type = "cvae";
  // diffusion / flow_matching only: IterativeModelOptions keys (models/diffusion/iterative_options.h),
  // e.g. {"sde", "vp"}, {"noise_schedule", "cosine"}, {"sampler", "ddim"}, {"pca_components", "50"},
  // {"representation", "vae_latent"} (then latent_dim, hidden_dims, likelihood, beta, ... describe the VAE
  // trained first, unless {"vae_checkpoint", DIR} names one).
  std::map<std::string, std::string> model_options;
  // "gaussian" | "negative_binomial".
  std::string likelihood = "gaussian";
  // "auto" (counts when every value is a non-negative integer), "counts" or "log_normalized".
  std::string input_space = "auto";
  // Target sum for normalize_total when the input is counts.
  double normalize_total = 1e4;
  int64_t latent_dim = 10;
  std::vector<int64_t> hidden_dims = {128, 64};
  int64_t covariate_embedding_dim = 8;
  double dropout = 0.1;
  double beta = 1.0;
  double validation_fraction = 0.1;
  // Includes checkpointing (training.checkpoint_path), cancellation and distributed training.
  VaeTrainingOptions training;
  // Where and under which name to publish. In distributed training only rank 0 publishes.
  std::string repository;
  std::string model_name;
  QualityGate quality_gate;
  // A model that fails the quality gate is saved to <gated_model_directory> (when not empty) instead of
  // being published.
  std::string gated_model_directory;
};

struct TrainingJobResult {
  // version 0 when nothing was published (gated, or a rank other than 0).
  PublishedVersion published;
  // Why the model was not published when it failed the quality gate; empty otherwise.
  std::string gate_failure;
  // Seconds the publish took (0 when nothing was published).
  double publish_seconds = 0;
  std::map<std::string, double> training_metrics;
  int64_t n_train_cells = 0;
  int64_t n_validation_cells = 0;
  int64_t n_held_out_cells = 0;
};

// INVALID_ARGUMENT naming the spec field for a bad spec (checked without reading any data).
absl::Status ValidateTrainingJobSpec(const TrainingJobSpec& spec);

// Reads, trains and, unless the quality gate fails, publishes. on_epoch may be empty. Errors:
// ValidateTrainingJobSpec's; NOT_FOUND for a missing file or obs column; CANCELLED when
// spec.training.cancelled said so; errors of reading, training and publishing otherwise.
absl::StatusOr<TrainingJobResult> RunTrainingJob(
    const TrainingJobSpec& spec, const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_TRAINING_JOB_H_
