// Models-internal (includes torch): DiffusionModel, a score-based diffusion model in PCA space served as a
// GenerativeModel (model_type "diffusion").
//
// The network predicts the noise eps (prediction "noise"), the score (prediction "score") or an
// EDM-preconditioned denoiser (prediction "denoiser", the default; see NoiseEstimate); the samplers work with
// the implied eps_hat, and x0_hat = (x_t - s eps_hat) / a. Samplers, on the
// time grid t_k = 1 - k / steps (k = 0..steps):
//   "ddpm"                ancestral sampling from the posterior q(x_u | x_t, x0_hat) (general a, s form,
//                         so it also runs on the VE-SDE);
//   "ddim"                DDIM with the session's eta (0 = deterministic, 1 = DDPM's variance);
//   "euler_maruyama"      the reverse SDE dx = [f x - g^2 score] dt + g dW by Euler-Maruyama;
//   "pf_ode_heun"         the probability-flow ODE by Heun's method, integrated in the variables
//                         (x / a, s / a), where it reads d(x/a) = eps_hat d(s/a) (Karras et al.); the last
//                         step (to s = 0) is an Euler step;
//   "predictor_corrector" an Euler-Maruyama predictor and one Langevin corrector step (signal-to-noise
//                         ratio 0.16, Song et al. 2021) per step.
// The SDE samplers end with x0_hat (Tweedie's denoising) instead of a last noisy step.
// Perturbation prediction (scPPDM-style): the network is also conditioned on a control cell; a perturbation
// session starts from noise and is conditioned on the source cell and the target condition.
// Thread-safety as IterativeModel.
#ifndef GENAILAB_MODELS_DIFFUSION_DIFFUSION_MODEL_H_
#define GENAILAB_MODELS_DIFFUSION_DIFFUSION_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/diffusion/iterative_model.h"
#include "models/diffusion/noise_process.h"

namespace genailab {

class DiffusionModel final : public IterativeModel {
 public:
  // `network` must be built from DenoiserNetworkOptionsFromManifest(manifest) and already be on `device`.
  // INVALID_ARGUMENT for a manifest whose model_type is not "diffusion" or whose options are malformed.
  static absl::StatusOr<std::unique_ptr<DiffusionModel>> Create(ModelManifest manifest, DenoiserNetwork network,
                                                                torch::Device device);

  std::vector<std::string> Samplers() const override;
  const NoiseProcess& process() const { return process_; }

  // eps_hat from the network output for states x at signal/noise scales a, s (tensors broadcastable to x,
  // or scalars): "noise" eps = F; "score" eps = -s F; "denoiser" (EDM preconditioning, Karras et al. 2022,
  // with unit data variance) x0_hat = x/a / (r^2 + 1) + r / sqrt(r^2 + 1) F with r = s / a, eps = (x/a -
  // x0_hat) / r. The denoiser form keeps the estimate's error O(1) in x0 at high noise, which the
  // deterministic samplers (DDIM eta = 0, the probability-flow ODE) need.
  static torch::Tensor NoiseEstimate(const std::string& prediction, const torch::Tensor& output,
                                     const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& s);
  // The denoising score matching weight of |eps_hat - eps|^2 that makes each parameterization's loss its
  // own regression target: 1 for "noise" and "score" (for "score" this is the lambda(t) = s^2 weighting of
  // |score_hat - score|^2), 1 + (s / a)^2 for "denoiser".
  static torch::Tensor LossWeight(const std::string& prediction, const torch::Tensor& a, const torch::Tensor& s);

  // eps_hat for a batch (prediction-independent), conditional only.
  torch::Tensor PredictNoise(const torch::Tensor& x, double t, const torch::Tensor& covariates) const;
  // Deterministic DDIM inversion: runs the eta = 0 ODE from clean PCA coordinates `x0` up to t = 1 over
  // `steps` steps and returns the noise that "ddim" with eta = 0 and the same steps maps back to x0.
  torch::Tensor InvertDdim(const torch::Tensor& x0, const torch::Tensor& covariates, int steps) const;

 protected:
  torch::Tensor InitialState(int64_t rows, const torch::Tensor& source, bool perturbation,
                             at::Generator& generator) const override;
  bool SourceAsContext() const override { return true; }
  double CurrentTime(const IterativeSession& session) const override;
  void FirstStage(IterativeSession& session, const torch::Tensor& output) const override;
  void SecondStage(IterativeSession& session, const torch::Tensor& output) const override;

 private:
  DiffusionModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network,
                 torch::Device device, NoiseProcess process);
  static double GridTime(int step, int steps);
  torch::Tensor NoiseFromOutput(const torch::Tensor& output, const torch::Tensor& x, double t) const;

  const NoiseProcess process_;
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_DIFFUSION_MODEL_H_
