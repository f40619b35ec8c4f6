// NoiseProcess: the forward (noising) SDE of a score-based diffusion model, in closed form. Torch-free.
//
// Every process here has Gaussian marginals x_t = a(t) x_0 + s(t) eps, eps ~ N(0, I), t in [0, 1]:
//   VP-SDE  dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW,   a = sqrt(alpha_bar(t)), s = sqrt(1 - alpha_bar(t)),
//           with a linear beta(t) = beta_min + t (beta_max - beta_min) or the cosine alpha_bar of
//           Nichol & Dhariwal (time-capped so that alpha_bar(1) = 1e-4 and beta stays finite);
//   VE-SDE  dx = sqrt(d sigma^2 / dt) dW,  sigma(t) = sigma_min (sigma_max / sigma_min)^t,
//           a = 1, s = sqrt(sigma(t)^2 - sigma_min^2) (so s(0) = 0 exactly).
// A plain value type: thread-safe for concurrent const use.
#ifndef GENAILAB_MODELS_DIFFUSION_NOISE_PROCESS_H_
#define GENAILAB_MODELS_DIFFUSION_NOISE_PROCESS_H_

#include <string>

#include "absl/status/statusor.h"

namespace genailab {

struct NoiseProcessOptions {
  std::string sde = "vp";           // "vp" | "ve"
  std::string schedule = "linear";  // "linear" | "cosine" (VP only; VE is always geometric)
  double beta_min = 0.1;            // VP linear
  double beta_max = 20.0;
  double cosine_offset = 0.008;     // VP cosine: the s of Nichol & Dhariwal
  double sigma_min = 0.01;          // VE
  double sigma_max = 20.0;
};

class NoiseProcess {
 public:
  // INVALID_ARGUMENT naming the field for an unknown sde/schedule or out-of-range constants.
  static absl::StatusOr<NoiseProcess> Create(const NoiseProcessOptions& options);

  const NoiseProcessOptions& options() const { return options_; }
  bool variance_preserving() const { return options_.sde == "vp"; }

  // a(t): the scale of x_0 in x_t.
  double SignalScale(double t) const;
  // s(t): the standard deviation of the noise in x_t (0 at t = 0).
  double NoiseScale(double t) const;
  // f(t) in the drift f(t) x of the forward SDE.
  double DriftCoefficient(double t) const;
  // g(t)^2, the squared diffusion coefficient of the forward SDE.
  double DiffusionSquared(double t) const;
  // The standard deviation of the prior x_1 is drawn from: 1 (VP) or s(1) (VE).
  double PriorStd() const;

 private:
  explicit NoiseProcess(const NoiseProcessOptions& options);
  double AlphaBar(double t) const;  // VP only
  double Beta(double t) const;      // VP only: -d log alpha_bar / dt

  NoiseProcessOptions options_;
  double cosine_time_cap_ = 1.0;
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DIFFUSION_NOISE_PROCESS_H_
