// Models-internal (includes torch): IterativeModel, the GenerativeModel shared by the models that sample by
// integrating a learned field over time (DiffusionModel, FlowModel). It owns the manifest, the
// DenoiserNetwork (which also holds the PCA basis the model works in) and the device, and implements the
// iterative session API on top of two per-family hooks: where a session starts, and how one step updates it
// from the network's output. Generate and PredictPerturbation run a session to the end with the manifest's
// default sampler. With representation "pca" Encode and Decode are UNIMPLEMENTED (no encoder/decoder
// pair); with "vae_latent" the model samples in a VAE's latent space (VaeLatentSpace): requests' cells are
// encoded to posterior means, sampled latents are decoded with the request's covariates and library size,
// and Encode / Decode are the VAE's.
//
// Batching: StepSessions evaluates the network once for every session's first evaluation (and, with
// classifier-free guidance, their unconditional twins) and once more for the sessions whose sampler needs
// a second evaluation per step (Heun, predictor-corrector). Every random draw comes from the session's own
// CPU generator seeded by its request, and the network treats rows independently, so a session's cells do
// not depend on which sessions it is batched with.
// Thread-safety: all const methods are safe to call concurrently; a session is used by one thread at a time.
#ifndef GENAILAB_MODELS_DIFFUSION_ITERATIVE_MODEL_H_
#define GENAILAB_MODELS_DIFFUSION_ITERATIVE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/diffusion/denoiser_network.h"
#include "models/diffusion/iterative_options.h"
#include "models/diffusion/vae_latent_space.h"
#include "models/generative_model.h"

namespace genailab {

class IterativeModel;

// Covariate codes (one column per covariate) as a rows x K int64 CPU tensor; undefined when `codes` is empty.
torch::Tensor CovariateCodesToTensor(const CovariateCodes& codes, int64_t rows);
// A copy of `matrix` as a float CPU tensor.
torch::Tensor MatrixToCpuTensor(const DenseMatrix& matrix);
// rows x K int64 codes (any device) -> one column per covariate; empty when `codes` is undefined.
CovariateCodes TensorToCovariateCodes(const torch::Tensor& codes);

// One request's sampling state. Fields are read and written by IterativeModel and its family's step rule.
class IterativeSession final : public SamplingSession {
 public:
  int64_t rows() const override { return x.size(0); }
  int steps_total() const override { return steps; }
  int steps_done() const override { return step; }
  void SetLibrarySize(std::vector<float> sizes) override { library_size = std::move(sizes); }

  const IterativeModel* owner = nullptr;
  std::string sampler;
  int steps = 0;
  double eta = 0.0;
  double guidance_scale = 1.0;
  int step = 0;
  torch::Tensor x;             // rows x data_dim, on the model's device
  torch::Tensor covariates;    // rows x K int64 (null code = cardinality), undefined when K = 0
  torch::Tensor context;       // rows x data_dim, undefined when the network takes no context
  torch::Tensor context_mask;  // rows x 1 (1 = context present)
  std::vector<float> library_size;  // vae_latent: per row for the decoder (empty = the VAE's default)
  at::Generator generator;     // the request's own random stream (CPU)
  // Between the two evaluations of a two-stage step (Heun, predictor-corrector):
  bool pending = false;
  torch::Tensor pending_x;
  double pending_t = 0.0;
  torch::Tensor saved_x;       // the family's state before the step (e.g. Heun's starting point)
  torch::Tensor saved_output;  // the first evaluation's output
};

class IterativeModel : public GenerativeModel {
 public:
  const ModelManifest& manifest() const override { return manifest_; }
  const IterativeModelOptions& options() const { return options_; }
  const DenoiserNetwork& network() const { return network_; }
  torch::Device device() const { return device_; }
  // The VAE latent space the model samples in; nullptr for representation "pca".
  const VaeLatentSpace* latent_space() const { return latent_space_.get(); }
  // Only in a VAE's latent space ("vae_latent"); in PCA space Encode / Decode are UNIMPLEMENTED.
  bool HasLatentSpace() const override { return latent_space_ != nullptr; }

  // Called once by the factory, before the model is used (not thread-safe): makes the model sample in
  // `latent_space`. INVALID_ARGUMENT unless the options say "vae_latent" and the network's input width is
  // the VAE's latent_dim; FAILED_PRECONDITION if a latent space is already attached.
  absl::Status AttachLatentSpace(std::unique_ptr<VaeLatentSpace> latent_space);

  absl::StatusOr<LatentPosterior> Encode(const DenseMatrix& x, const CovariateCodes& covariates) const override;
  absl::StatusOr<DenseMatrix> Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                     const std::vector<float>& library_size) const override;
  // library_size is used by a negative-binomial VAE decoder (vae_latent) and ignored otherwise;
  // sample_counts is INVALID_ARGUMENT. Uses the manifest's default sampler. Empty covariates sample
  // unconditionally (INVALID_ARGUMENT when the latent decoder is a cVAE, which needs them).
  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                       float library_size, bool sample_counts) const override;
  // Runs BeginPerturbation with seed 0 and the default sampler. `method` must be kDefault (INVALID_ARGUMENT
  // otherwise: these models predict by iterative sampling only).
  absl::StatusOr<DenseMatrix> PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                  const std::string& source, const std::string& target,
                                                  PerturbationMethod method,
                                                  const std::vector<float>& library_size) const override;

  absl::StatusOr<std::unique_ptr<SamplingSession>> BeginGeneration(int64_t n, const CovariateCodes& covariates,
                                                                    uint64_t seed,
                                                                    const SamplerOptions& sampler) const override;
  // FAILED_PRECONDITION unless the manifest has a condition_key that is one of the covariates (the model
  // was trained with control-cell context); INVALID_ARGUMENT for an unknown source/target.
  absl::StatusOr<std::unique_ptr<SamplingSession>> BeginPerturbation(const DenseMatrix& x,
                                                                     const CovariateCodes& covariates,
                                                                     const std::string& source,
                                                                     const std::string& target, uint64_t seed,
                                                                     const SamplerOptions& sampler) const override;
  absl::Status StepSessions(const std::vector<SamplingSession*>& sessions) const override;
  absl::StatusOr<DenseMatrix> FinishSession(SamplingSession* session) const override;

  // --- Internal (tests and training) ---
  // A session starting from `initial` (rows x data_dim, PCA coordinates) instead of the family's start.
  // covariates: rows x K codes or undefined; context/context_mask undefined for none.
  absl::StatusOr<std::unique_ptr<IterativeSession>> BeginFromState(const torch::Tensor& initial,
                                                                   const torch::Tensor& covariates,
                                                                   const torch::Tensor& context,
                                                                   const torch::Tensor& context_mask,
                                                                   uint64_t seed, const SamplerOptions& sampler) const;
  // Steps `session` to the end and returns its state in PCA coordinates.
  absl::StatusOr<torch::Tensor> RunToEnd(IterativeSession* session) const;
  // The network output for one batch with classifier-free guidance `guidance_scale` (1 = conditional).
  torch::Tensor Evaluate(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& covariates,
                         const torch::Tensor& context, const torch::Tensor& context_mask,
                         double guidance_scale) const;

 protected:
  IterativeModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network,
                 torch::Device device);

  // The network's input space: x itself ("pca") or x's VAE posterior means ("vae_latent"); CPU.
  absl::StatusOr<torch::Tensor> ModelSpaceInput(const DenseMatrix& x, const CovariateCodes& covariates) const;

  // The state a generation session starts from (perturbation = false) or a perturbation session starts
  // from (source = the source cells in PCA coordinates).
  virtual torch::Tensor InitialState(int64_t rows, const torch::Tensor& source, bool perturbation,
                                     at::Generator& generator) const = 0;
  // Whether a perturbation session shows the network the source cell itself (diffusion, scPPDM-style) or
  // only the flag that it starts from a source cell (flow matching: its source is the state at t = 0, and
  // seeing it again would let the network collapse the flow to E[x_1 | x_0]).
  virtual bool SourceAsContext() const = 0;
  // The network time of the session's current step.
  virtual double CurrentTime(const IterativeSession& session) const = 0;
  // Applies the first evaluation's output; sets session.pending (with pending_x / pending_t) when the
  // sampler needs a second evaluation, otherwise completes the step (++session.step).
  virtual void FirstStage(IterativeSession& session, const torch::Tensor& output) const = 0;
  // Applies the second evaluation's output and completes the step.
  virtual void SecondStage(IterativeSession& session, const torch::Tensor& output) const = 0;
  // A fresh CPU normal draw of the session's shape from its own generator, on the device.
  torch::Tensor Noise(IterativeSession& session) const;

 private:
  // INVALID_ARGUMENT for an unknown sampler, steps < 0, eta outside [0, 1] or a negative guidance scale.
  absl::StatusOr<SamplerOptions> ResolveSampler(const SamplerOptions& sampler) const;
  // codes (validated) -> rows x K tensor on the device, null codes when `codes` is empty; undefined if K = 0.
  torch::Tensor CovariateTensor(const CovariateCodes& codes, int64_t rows) const;
  // One batched evaluation over the sessions' (x, t) pairs (first or second stage).
  std::vector<torch::Tensor> EvaluateSessions(const std::vector<IterativeSession*>& sessions,
                                              bool second_stage) const;

  const ModelManifest manifest_;
  const IterativeModelOptions options_;
  const DenoiserNetwork network_;
  const torch::Device device_;
  torch::Tensor null_codes_;  // 1 x K: each covariate's null code
  std::shared_ptr<const VaeLatentSpace> latent_space_;  // set once by AttachLatentSpace
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_ITERATIVE_MODEL_H_
