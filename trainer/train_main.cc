// genailab-train: trains one VAE / conditional VAE / diffusion / flow-matching model from an h5ad or CSV file and publishes it as the next
// version of a model in a model repository. See README.md ("Training").
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "trainer/training_job.h"

ABSL_FLAG(std::string, data, "", "Training data: .h5ad, .csv or .tsv (cells x genes).");
ABSL_FLAG(std::string, layer, "X", "h5ad matrix to train on: X, raw/X or layers/<name>.");
ABSL_FLAG(std::string, covariate_keys, "", "Comma-separated obs columns to condition on (cvae).");
ABSL_FLAG(std::string, condition_key, "", "obs column holding the perturbation condition.");
ABSL_FLAG(std::string, holdout, "",
          "Cells to leave out: key=value[,key=value] filters, several separated by ';'. "
          "Example: cell_type=B,condition=stimulated");
ABSL_FLAG(std::string, model_type, "cvae", "vae, cvae, diffusion or flow_matching.");
// diffusion / flow_matching options (empty = the model's default; see models/diffusion/iterative_options.h).
ABSL_FLAG(std::string, representation, "",
          "diffusion/flow: pca (expression after PCA, default) or vae_latent (the latent space of a VAE trained "
          "first with --latent_dim, --hidden_dims, --likelihood, --beta, ..., or taken from --vae_checkpoint).");
ABSL_FLAG(std::string, vae_checkpoint, "",
          "diffusion/flow, vae_latent: a VAE checkpoint folder to use instead of training one (copied in).");
ABSL_FLAG(std::string, vae_covariates, "",
          "diffusion/flow, vae_latent: covariates the trained VAE is conditioned on: all (default), none, or "
          "comma-separated names.");
ABSL_FLAG(std::string, pca_components, "", "diffusion/flow: PCA coordinates the model works in (default 50).");
ABSL_FLAG(std::string, score_network, "", "diffusion/flow: network, mlp or attention.");
ABSL_FLAG(std::string, sde, "", "diffusion: forward process, vp or ve.");
ABSL_FLAG(std::string, noise_schedule, "", "diffusion: linear or cosine (VP).");
ABSL_FLAG(std::string, prediction, "", "diffusion: noise, score or denoiser (default).");
ABSL_FLAG(std::string, sampler, "", "Default sampler: ddpm, ddim, euler_maruyama, pf_ode_heun, "
          "predictor_corrector (diffusion); euler, heun (flow_matching).");
ABSL_FLAG(std::string, sampling_steps, "", "Default sampling steps (diffusion 50, flow_matching 10).");
ABSL_FLAG(std::string, eta, "", "Default DDIM eta.");
ABSL_FLAG(std::string, guidance_scale, "", "Default classifier-free guidance scale (1 = none).");
ABSL_FLAG(std::string, covariate_dropout, "", "Probability of training a row unconditionally (CFG).");
ABSL_FLAG(std::string, context_dropout, "", "diffusion: probability of training without the control cell.");
ABSL_FLAG(std::string, ot_pairing, "", "flow_matching: mini-batch OT pairing, true or false.");
ABSL_FLAG(std::string, control_condition, "", "diffusion/flow: the control value of --condition_key.");
ABSL_FLAG(std::string, likelihood, "gaussian", "gaussian (log-normalized) or negative_binomial (counts).");
ABSL_FLAG(std::string, input_space, "auto", "auto, counts or log_normalized.");
ABSL_FLAG(double, normalize_total, 1e4, "normalize_total target sum applied to counts.");
ABSL_FLAG(int64_t, latent_dim, 10, "Latent dimensions.");
ABSL_FLAG(std::string, hidden_dims, "128,64", "Encoder hidden layer sizes (the decoder mirrors them).");
ABSL_FLAG(int64_t, embedding_dim, 8, "Covariate embedding size.");
ABSL_FLAG(double, dropout, 0.1, "Dropout rate in the hidden layers.");
ABSL_FLAG(double, beta, 1.0, "KL weight.");
ABSL_FLAG(int, epochs, 50, "Training epochs.");
ABSL_FLAG(int, batch_size, 128, "Minibatch size.");
ABSL_FLAG(double, lr, 1e-3, "Adam learning rate.");
ABSL_FLAG(std::string, lr_schedule, "constant", "constant, cosine (to --min_lr) or step.");
ABSL_FLAG(double, min_lr, 0.0, "Final learning rate of the cosine schedule.");
ABSL_FLAG(int, lr_step_epochs, 10, "step schedule: epochs between learning-rate decays.");
ABSL_FLAG(double, lr_step_gamma, 0.5, "step schedule: factor of each decay.");
ABSL_FLAG(double, gradient_clip_norm, 100.0, "Clip the gradients' global L2 norm to this (0 = off).");
ABSL_FLAG(int, early_stopping_patience, 0, "Stop after this many epochs without validation improvement (0 = off).");
ABSL_FLAG(double, early_stopping_min_delta, 0.0, "Smallest validation-loss decrease that counts as improvement.");
ABSL_FLAG(bool, mixed_precision, false, "CUDA only: bfloat16 autocast in forward passes.");
ABSL_FLAG(std::string, checkpoint, "",
          "Resumable training state file: written every --checkpoint_every_epochs, resumed from when present.");
ABSL_FLAG(int, checkpoint_every_epochs, 1, "Epochs between training checkpoints.");
ABSL_FLAG(int, batch_shards, 0,
          "Shards of each minibatch (0 = WORLD_SIZE). N shards in one process follow the trajectory of N ranks.");
ABSL_FLAG(int, kl_warmup_epochs, 10, "Epochs over which the KL weight ramps up to beta.");
ABSL_FLAG(std::string, kl_schedule, "linear", "KL weight schedule: linear, cyclical, sigmoid or constant.");
ABSL_FLAG(int, kl_cycle_epochs, 10, "cyclical schedule: epochs per cycle.");
ABSL_FLAG(int, iwae_samples, 0, "Report the IWAE bound with this many importance samples (0 = off).");
ABSL_FLAG(uint64_t, seed, 0, "Random seed (split, initialization, minibatches).");
ABSL_FLAG(double, validation_fraction, 0.1, "Fraction of training cells kept for validation.");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda, cuda:N or auto.");
ABSL_FLAG(int, threads, 0, "Intra-op threads (0 = LibTorch's default).");
ABSL_FLAG(std::string, repository, "", "Model repository root.");
ABSL_FLAG(std::string, model, "", "Model name to publish under.");

namespace genailab {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseSizes(const std::string& text, const std::string& flag) {
  std::vector<int64_t> sizes;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t size = 0;
    if (!absl::SimpleAtoi(part, &size)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part, "' is not an integer"));
    }
    sizes.push_back(size);
  }
  return sizes;
}

absl::StatusOr<TrainingJobSpec> SpecFromFlags() {
  TrainingJobSpec spec;
  spec.data_path = absl::GetFlag(FLAGS_data);
  spec.layer = absl::GetFlag(FLAGS_layer);
  spec.covariate_keys = absl::StrSplit(absl::GetFlag(FLAGS_covariate_keys), ',', absl::SkipWhitespace());
  spec.condition_key = absl::GetFlag(FLAGS_condition_key);
  spec.holdout = absl::StrSplit(absl::GetFlag(FLAGS_holdout), ';', absl::SkipWhitespace());
  spec.model_type = absl::GetFlag(FLAGS_model_type);
  for (const auto& [key, flag] : std::vector<std::pair<std::string, std::string>>{
           {"representation", absl::GetFlag(FLAGS_representation)},
           {"vae_checkpoint", absl::GetFlag(FLAGS_vae_checkpoint)},
           {"vae_covariates", absl::GetFlag(FLAGS_vae_covariates)},
           {"pca_components", absl::GetFlag(FLAGS_pca_components)}, {"network", absl::GetFlag(FLAGS_score_network)},
           {"sde", absl::GetFlag(FLAGS_sde)}, {"noise_schedule", absl::GetFlag(FLAGS_noise_schedule)},
           {"prediction", absl::GetFlag(FLAGS_prediction)}, {"sampler", absl::GetFlag(FLAGS_sampler)},
           {"sampling_steps", absl::GetFlag(FLAGS_sampling_steps)}, {"eta", absl::GetFlag(FLAGS_eta)},
           {"guidance_scale", absl::GetFlag(FLAGS_guidance_scale)},
           {"covariate_dropout", absl::GetFlag(FLAGS_covariate_dropout)},
           {"context_dropout", absl::GetFlag(FLAGS_context_dropout)},
           {"ot_pairing", absl::GetFlag(FLAGS_ot_pairing)},
           {"control_condition", absl::GetFlag(FLAGS_control_condition)}}) {
    if (!flag.empty()) spec.model_options[key] = flag;
  }
  spec.likelihood = absl::GetFlag(FLAGS_likelihood);
  spec.input_space = absl::GetFlag(FLAGS_input_space);
  spec.normalize_total = absl::GetFlag(FLAGS_normalize_total);
  spec.latent_dim = absl::GetFlag(FLAGS_latent_dim);
  auto hidden = ParseSizes(absl::GetFlag(FLAGS_hidden_dims), "hidden_dims");
  if (!hidden.ok()) return hidden.status();
  spec.hidden_dims = *hidden;
  spec.covariate_embedding_dim = absl::GetFlag(FLAGS_embedding_dim);
  spec.dropout = absl::GetFlag(FLAGS_dropout);
  spec.beta = absl::GetFlag(FLAGS_beta);
  spec.validation_fraction = absl::GetFlag(FLAGS_validation_fraction);
  spec.training.epochs = absl::GetFlag(FLAGS_epochs);
  spec.training.batch_size = absl::GetFlag(FLAGS_batch_size);
  spec.training.learning_rate = absl::GetFlag(FLAGS_lr);
  spec.training.kl_warmup_epochs = absl::GetFlag(FLAGS_kl_warmup_epochs);
  spec.training.kl_schedule = absl::GetFlag(FLAGS_kl_schedule);
  spec.training.kl_cycle_epochs = absl::GetFlag(FLAGS_kl_cycle_epochs);
  spec.training.iwae_samples = absl::GetFlag(FLAGS_iwae_samples);
  spec.training.seed = absl::GetFlag(FLAGS_seed);
  spec.training.lr_schedule = absl::GetFlag(FLAGS_lr_schedule);
  spec.training.min_learning_rate = absl::GetFlag(FLAGS_min_lr);
  spec.training.lr_step_epochs = absl::GetFlag(FLAGS_lr_step_epochs);
  spec.training.lr_step_gamma = absl::GetFlag(FLAGS_lr_step_gamma);
  spec.training.gradient_clip_norm = absl::GetFlag(FLAGS_gradient_clip_norm);
  spec.training.early_stopping_patience = absl::GetFlag(FLAGS_early_stopping_patience);
  spec.training.early_stopping_min_delta = absl::GetFlag(FLAGS_early_stopping_min_delta);
  spec.training.mixed_precision = absl::GetFlag(FLAGS_mixed_precision);
  spec.training.checkpoint_path = absl::GetFlag(FLAGS_checkpoint);
  spec.training.checkpoint_every_epochs = absl::GetFlag(FLAGS_checkpoint_every_epochs);
  spec.training.batch_shards = absl::GetFlag(FLAGS_batch_shards);
  // torchrun-style launchers (and Kubernetes training operators) describe the job in the environment.
  auto distributed = DistributedOptionsFromEnvironment();
  if (!distributed.ok()) return distributed.status();
  spec.training.distributed = *distributed;
  spec.training.device = absl::GetFlag(FLAGS_device);
  spec.training.intra_op_threads = absl::GetFlag(FLAGS_threads);
  spec.repository = absl::GetFlag(FLAGS_repository);
  spec.model_name = absl::GetFlag(FLAGS_model);
  return spec;
}

int Run() {
  auto spec = SpecFromFlags();
  if (spec.ok()) {
    const absl::Status valid = ValidateTrainingJobSpec(*spec);
    if (!valid.ok()) spec = valid;
  }
  if (!spec.ok()) {
    std::fprintf(stderr, "genailab-train: %s\n", spec.status().ToString().c_str());
    return 2;
  }
  const int epochs = spec->training.epochs;
  auto result = RunTrainingJob(*spec, [epochs](const EpochReport& report) {
    std::printf("epoch %d/%d loss=%.4f reconstruction=%.4f kl=%.4f validation_loss=%.4f cells_per_s=%.0f\n",
                report.epoch, epochs, report.loss, report.reconstruction, report.kl,
                report.validation_loss, report.cells_per_second);
    std::fflush(stdout);
  });
  if (!result.ok()) {
    std::fprintf(stderr, "genailab-train: %s\n", result.status().ToString().c_str());
    return 1;
  }
  if (!result->gate_failure.empty()) {
    std::printf("trained, not published: %s\n", result->gate_failure.c_str());
    return 0;
  }
  if (result->published.version == 0) {
    std::printf("trained as rank %d of %d; rank 0 publishes\n", spec->training.distributed.rank,
                spec->training.distributed.world_size);
    return 0;
  }
  std::printf("trained on %lld cells (%lld validation, %lld held out); published %s version %lld at %s\n",
              static_cast<long long>(result->n_train_cells),
              static_cast<long long>(result->n_validation_cells),
              static_cast<long long>(result->n_held_out_cells), spec->model_name.c_str(),
              static_cast<long long>(result->published.version), result->published.directory.c_str());
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Train a VAE / conditional VAE / diffusion / flow-matching model and publish it into a model repository.\n"
      "  genailab-train --data=cells.h5ad --covariate_keys=cell_type,condition "
      "--condition_key=condition --repository=models --model=my_model\n"
      "  genailab-train --model_type=diffusion --representation=vae_latent --data=cells.h5ad "
      "--covariate_keys=cell_type --repository=models --model=my_latent_diffusion");
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
