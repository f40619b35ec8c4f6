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
#include "models/distributed_options.h"
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

// The torchrun-style environment: WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT (all optional; absent means
// a single process). INVALID_ARGUMENT naming the variable that is not a number or out of range.
absl::StatusOr<DistributedOptions> DistributedOptionsFromEnvironment();

struct VaeTrainingOptions {
  int epochs = 50;
  // The global minibatch (split across ranks in distributed training).
  int batch_size = 128;
  double learning_rate = 1e-3;
  // Per-epoch learning rate: "constant", "cosine" (learning_rate annealed to min_learning_rate over
  // `epochs`) or "step" (multiplied by lr_step_gamma every lr_step_epochs epochs). See ScheduledLearningRate.
  std::string lr_schedule = "constant";
  double min_learning_rate = 0.0;
  int lr_step_epochs = 10;
  double lr_step_gamma = 0.5;
  // KL weight ramps from 0 to manifest.beta over this many epochs (0 = no warm-up), following
  // kl_schedule: "linear", "cyclical" (cycles of kl_cycle_epochs), "sigmoid" or "constant"; see
  // models/kl_schedule.h.
  int kl_warmup_epochs = 10;
  std::string kl_schedule = "linear";
  int kl_cycle_epochs = 10;
  // When > 0, training_metrics gains "iwae_bound_k<K>" and "elbo_k<K>" (nats per cell, K = iwae_samples,
  // on the validation cells, or the training cells without them) after training.
  int iwae_samples = 0;
  // Global L2 norm the gradients are clipped to each step; 0 = no clipping. The default keeps early
  // negative-binomial steps (large counts, random decoder) from diverging.
  double gradient_clip_norm = 100.0;
  // Stop once the validation loss has not improved by more than early_stopping_min_delta for this many
  // epochs in a row; 0 = never stop early. Needs validation data. Whenever it is on (stopped early or
  // not), training ends with the weights of the best epoch (the last one that improved the validation
  // loss by more than early_stopping_min_delta), reported as training_metrics "best_epoch"; the
  // checkpoint keeps those weights too, so a resumed run ends the same.
  int early_stopping_patience = 0;
  double early_stopping_min_delta = 0.0;
  // Seeds initialization, minibatch order, dropout and latent sampling: the same seed, data, options and
  // thread count give identical weights on the same machine.
  uint64_t seed = 0;
  // "cpu", "cuda", "cuda:N" (or "auto": CUDA if available).
  std::string device = "cpu";
  int intra_op_threads = 0;  // 0 = leave LibTorch's default
  // CUDA only: forward passes under autocast in bfloat16 (which needs no loss scaling). On a device that
  // resolves to the CPU, TrainVae refuses it (INVALID_ARGUMENT naming mixed_precision).
  bool mixed_precision = false;
  // Resumable training state (module, optimizer, epoch, random generators, early-stopping state); empty =
  // none. Written atomically (temporary file + rename) after every checkpoint_every_epochs-th epoch. When
  // the file exists at the start, training resumes after the epoch it records and, given the same data and
  // options, ends with the same weights as an uninterrupted run.
  std::string checkpoint_path;
  int checkpoint_every_epochs = 1;
  // Polled before every step (may be empty); when it returns true training stops with CANCELLED. The
  // checkpoint of the last finished epoch is kept.
  std::function<bool()> cancelled;
  DistributedOptions distributed;
  // Shards each global minibatch is split into, each with its own random stream; a rank computes shards
  // rank, rank + world_size, ... one after another and the gradients add up. 0 = world_size. One process
  // with batch_shards = N follows the same trajectory as N ranks (up to floating-point summation order).
  int batch_shards = 0;
};

// The learning rate of 1-based `epoch` under options.lr_schedule (options assumed valid).
double ScheduledLearningRate(const VaeTrainingOptions& options, int epoch);

// INVALID_ARGUMENT naming the field of the first out-of-range option.
absl::Status ValidateVaeTrainingOptions(const VaeTrainingOptions& options);

struct EpochReport {
  int epoch = 0;  // 1-based
  double loss = 0;
  double reconstruction = 0;  // negative log-likelihood per cell
  double kl = 0;              // per cell
  double validation_loss = 0; // NaN when there is no validation data
  double cells_per_second = 0;
  double learning_rate = 0;
  // The epoch the run resumed after (from options.checkpoint_path); 0 for a fresh run.
  int resumed_from_epoch = 0;
  // True on the last report when early stopping ended training.
  bool stopped_early = false;
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
// median_library_size and training_metrics (loss, reconstruction, kl and validation_loss of the kept
// weights, cells_per_second, epochs, stopped_early, resumed_from_epoch, best_epoch under early stopping). on_epoch (may be empty) is called after each
// epoch (on every rank). INVALID_ARGUMENT naming the field for inconsistent data/manifest/options;
// FAILED_PRECONDITION if options.checkpoint_path holds state of another model; CANCELLED when
// options.cancelled said so; UNAVAILABLE if the distributed rendezvous fails; INTERNAL if torch fails.
absl::StatusOr<std::unique_ptr<TrainedVae>> TrainVae(
    const ModelManifest& manifest, const TrainingData& train, const TrainingData& validation,
    const VaeTrainingOptions& options, const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace genailab

#endif  // GENAILAB_MODELS_VAE_TRAINING_H_
