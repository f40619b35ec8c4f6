// Training a VAE / conditional VAE: the torch-free entry point the trainer calls. The loop itself (Adam,
// minibatches, KL warm-up, validation loss) runs in vae_training.cc.
#ifndef GENAILAB_MODELS_VAE_TRAINING_H_
#define GENAILAB_MODELS_VAE_TRAINING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"

namespace genailab {

// Model input for training, already in the model's gene order.
struct TrainingData {
  // Preprocessed encoder input (e.g. log1p(normalize_total(counts))): cells x genes.
  DenseMatrix x;
  // Negative-binomial models: the raw counts the likelihood scores (cells x genes); empty otherwise.
  DenseMatrix counts;
  // One code column per manifest covariate the network is conditioned on (empty for "vae").
  CovariateCodes covariates;
  // Condition of each cell (a value of manifest.condition_key), for latent condition means; may be empty.
  std::vector<std::string> conditions;
};

struct VaeTrainingOptions {
  int epochs = 50;
  int batch_size = 128;
  double learning_rate = 1e-3;
  // KL weight ramps linearly from 0 to manifest.beta over this many epochs (0 = no warm-up).
  int kl_warmup_epochs = 10;
  uint64_t seed = 0;
  // "cpu", "cuda", "cuda:N" (or "auto": CUDA if available).
  std::string device = "cpu";
  int intra_op_threads = 0;  // 0 = leave LibTorch's default
};

struct EpochReport {
  int epoch = 0;  // 1-based
  double loss = 0;
  double reconstruction = 0;  // negative log-likelihood per cell
  double kl = 0;              // per cell
  double validation_loss = 0; // NaN when there is no validation data
  double cells_per_second = 0;
};

// A trained model ready to serve or save.
class TrainedVae {
 public:
  virtual ~TrainedVae() = default;
  // Also a GenerativeModel (for evaluation right after training).
  virtual const GenerativeModel& model() const = 0;
  // Writes weights + manifest.json (with `version` and weights_sha256 filled) into `directory`, which
  // must exist. INTERNAL on I/O failure.
  virtual absl::Status Save(const std::string& directory, int64_t version) const = 0;
};

// `manifest` describes the architecture (model_type, likelihood, latent_dim, hidden_dims, covariates,
// condition_key, preprocessing, gene_names, beta, ...); training fills latent_condition_means,
// median_library_size and training_metrics (final loss, reconstruction, kl, validation_loss,
// cells_per_second). on_epoch (may be empty) is called after each epoch. INVALID_ARGUMENT naming the field
// for inconsistent data/manifest; INTERNAL if torch fails.
absl::StatusOr<std::unique_ptr<TrainedVae>> TrainVae(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace genailab

#endif  // GENAILAB_MODELS_VAE_TRAINING_H_
