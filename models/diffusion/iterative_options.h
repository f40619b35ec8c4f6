// IterativeModelOptions: the settings of a diffusion or flow-matching model (network, forward process,
// default sampler, training tricks), stored as strings in the manifest's `hyperparameters` so that a
// checkpoint describes itself. Torch-free plain value type.
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_OPTIONS_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "models/diffusion/noise_process.h"

namespace genailab {

inline constexpr char kDiffusionModelType[] = "diffusion";
inline constexpr char kFlowMatchingModelType[] = "flow_matching";
inline constexpr char kPcaRepresentation[] = "pca";
inline constexpr char kVaeLatentRepresentation[] = "vae_latent";
// The sub-folder of a "vae_latent" checkpoint that holds its VAE checkpoint (manifest.json + weights).
inline constexpr char kLatentVaeFolder[] = "vae";

// True for "diffusion" and "flow_matching".
bool IsIterativeModelType(const std::string& model_type);

struct IterativeModelOptions {
  // --- Network (hyperparameter keys in quotes) ---
  // "representation": the space the model samples in. "pca": expression after PCA (pca_components
  // coordinates). "vae_latent": the posterior means of a VAE / cVAE stored inside the checkpoint (folder
  // kLatentVaeFolder), whose decoder turns sampled latents into expression (see VaeLatentSpace).
  std::string representation = "pca";
  // "vae_checkpoint" (vae_latent, training only): a VAE checkpoint folder to take instead of training one;
  // it is copied into the new checkpoint, which never refers to it afterwards.
  std::string vae_checkpoint;
  // "vae_covariates" (vae_latent, a VAE trained here): the covariates the VAE is conditioned on: "all"
  // (default: a cVAE on every manifest covariate), "none" (an unconditional VAE: cell identity and
  // condition stay in the latent, which the diffusion / flow then models) or comma-separated names.
  std::string vae_covariates = "all";
  int64_t pca_components = 50;       // "pca_components": the model works in this many PCA coordinates
  std::string network = "mlp";       // "network": "mlp" | "attention"
  int64_t time_embedding_dim = 64;   // "time_embedding_dim"
  int64_t attention_tokens = 8;      // "attention_tokens": feature groups
  int64_t attention_dim = 64;        // "attention_dim"
  int64_t attention_heads = 4;       // "attention_heads"
  int64_t attention_layers = 2;      // "attention_layers"
  // --- Diffusion only ---
  NoiseProcessOptions process;       // "sde", "noise_schedule", "beta_min", "beta_max", "sigma_min", "sigma_max"
  std::string prediction = "denoiser";  // "prediction": "noise" | "score" | "denoiser" (DiffusionModel::NoiseEstimate)
  // --- Sampling defaults (SamplerOptions fields left 0/empty take these) ---
  std::string sampler;               // "sampler": default "ddim" (diffusion) / "heun" (flow matching)
  int sampling_steps = 0;            // "sampling_steps": default 50 (diffusion) / 10 (flow matching)
  double eta = 0.0;                  // "eta"
  double guidance_scale = 1.0;       // "guidance_scale": 1 = conditional only, no guidance
  // --- Training ---
  double covariate_dropout = 0.1;    // "covariate_dropout": P(all covariates -> null) per row (CFG)
  double context_dropout = 0.5;      // "context_dropout": P(no control-cell context) per row (diffusion)
  std::string control_condition;     // "control_condition": default "control" if present, else the first
  bool ot_pairing = true;            // "ot_pairing": flow matching mini-batch OT ("true" | "false")

  // Reads every key above that is present (others keep their defaults, then family defaults fill sampler
  // and sampling_steps). INVALID_ARGUMENT naming the key for an unknown model_type or a malformed or
  // out-of-range value.
  static absl::StatusOr<IterativeModelOptions> FromHyperparameters(
      const std::map<std::string, std::string>& hyperparameters, const std::string& model_type);
  // Writes every key (overwriting), so that a manifest records the full configuration.
  void WriteTo(std::map<std::string, std::string>* hyperparameters) const;
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_OPTIONS_H_
