#include "models/diffusion/noise_process.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genailab {
namespace {

constexpr double kPi = 3.14159265358979323846;
// The cosine schedule's alpha_bar reaches 0 (and beta infinity) at t = 1; it is evaluated on
// [0, cap] with cap chosen so that alpha_bar(1) = kCosineFinalAlphaBar.
constexpr double kCosineFinalAlphaBar = 1e-4;

double CosineAngle(double u, double offset) { return (u + offset) / (1.0 + offset) * kPi / 2.0; }

}  // namespace

absl::StatusOr<NoiseProcess> NoiseProcess::Create(const NoiseProcessOptions& options) {
  if (options.sde != "vp" && options.sde != "ve") {
    return absl::InvalidArgumentError(absl::StrCat("sde '", options.sde, "' is not one of: vp, ve"));
  }
  if (options.schedule != "linear" && options.schedule != "cosine") {
    return absl::InvalidArgumentError(
        absl::StrCat("noise_schedule '", options.schedule, "' is not one of: linear, cosine"));
  }
  if (options.sde == "ve" && options.schedule != "linear") {
    return absl::InvalidArgumentError("noise_schedule: the VE-SDE has only its geometric schedule (use linear)");
  }
  if (!(options.beta_min > 0) || !(options.beta_max > options.beta_min)) {
    return absl::InvalidArgumentError(absl::StrCat("beta_min/beta_max must satisfy 0 < beta_min < beta_max, got ",
                                                   options.beta_min, ", ", options.beta_max));
  }
  if (!(options.cosine_offset > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("cosine_offset must be > 0, got ", options.cosine_offset));
  }
  if (!(options.sigma_min > 0) || !(options.sigma_max > options.sigma_min)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sigma_min/sigma_max must satisfy 0 < sigma_min < sigma_max, got ", options.sigma_min, ", ",
        options.sigma_max));
  }
  return NoiseProcess(options);
}

NoiseProcess::NoiseProcess(const NoiseProcessOptions& options) : options_(options) {
  if (options_.schedule == "cosine") {
    // cos(angle(cap))^2 / cos(angle(0))^2 = final alpha_bar.
    const double c0 = std::cos(CosineAngle(0.0, options_.cosine_offset));
    const double angle = std::acos(std::sqrt(kCosineFinalAlphaBar) * c0);
    cosine_time_cap_ = angle * 2.0 / kPi * (1.0 + options_.cosine_offset) - options_.cosine_offset;
  }
}

double NoiseProcess::AlphaBar(double t) const {
  if (options_.schedule == "cosine") {
    const double c = std::cos(CosineAngle(t * cosine_time_cap_, options_.cosine_offset));
    const double c0 = std::cos(CosineAngle(0.0, options_.cosine_offset));
    return (c * c) / (c0 * c0);
  }
  return std::exp(-(options_.beta_min * t + 0.5 * (options_.beta_max - options_.beta_min) * t * t));
}

double NoiseProcess::Beta(double t) const {
  if (options_.schedule == "cosine") {
    // -d/dt log cos^2(angle(cap t)) = 2 tan(angle) * d angle / dt.
    return 2.0 * std::tan(CosineAngle(t * cosine_time_cap_, options_.cosine_offset)) * cosine_time_cap_ * kPi /
           (2.0 * (1.0 + options_.cosine_offset));
  }
  return options_.beta_min + t * (options_.beta_max - options_.beta_min);
}

double NoiseProcess::SignalScale(double t) const {
  return variance_preserving() ? std::sqrt(AlphaBar(t)) : 1.0;
}

double NoiseProcess::NoiseScale(double t) const {
  if (variance_preserving()) return std::sqrt(std::max(0.0, 1.0 - AlphaBar(t)));
  const double sigma = options_.sigma_min * std::pow(options_.sigma_max / options_.sigma_min, t);
  return std::sqrt(std::max(0.0, sigma * sigma - options_.sigma_min * options_.sigma_min));
}

double NoiseProcess::DriftCoefficient(double t) const { return variance_preserving() ? -0.5 * Beta(t) : 0.0; }

double NoiseProcess::DiffusionSquared(double t) const {
  if (variance_preserving()) return Beta(t);
  const double sigma = options_.sigma_min * std::pow(options_.sigma_max / options_.sigma_min, t);
  return 2.0 * sigma * sigma * std::log(options_.sigma_max / options_.sigma_min);
}

double NoiseProcess::PriorStd() const { return variance_preserving() ? 1.0 : NoiseScale(1.0); }

}  // namespace genailab
