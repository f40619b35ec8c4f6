#include "models/diffusion/diffusion_model.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

// Langevin corrector signal-to-noise ratio (Song et al. 2021, for VP and VE alike).
constexpr double kCorrectorSnr = 0.16;

}  // namespace

absl::StatusOr<std::unique_ptr<DiffusionModel>> DiffusionModel::Create(ModelManifest manifest,
                                                                      DenoiserNetwork network,
                                                                      torch::Device device) {
  if (manifest.model_type != kDiffusionModelType) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_type: expected \"diffusion\", got \"", manifest.model_type, "\""));
  }
  GENAILAB_ASSIGN_OR_RETURN(IterativeModelOptions options,
                            IterativeModelOptions::FromHyperparameters(manifest.hyperparameters, manifest.model_type));
  GENAILAB_ASSIGN_OR_RETURN(NoiseProcess process, NoiseProcess::Create(options.process));
  return std::unique_ptr<DiffusionModel>(
      new DiffusionModel(std::move(manifest), std::move(options), std::move(network), device, process));
}

DiffusionModel::DiffusionModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network,
                               torch::Device device, NoiseProcess process)
    : IterativeModel(std::move(manifest), std::move(options), std::move(network), device), process_(process) {}

std::vector<std::string> DiffusionModel::Samplers() const {
  return {"ddpm", "ddim", "euler_maruyama", "pf_ode_heun", "predictor_corrector"};
}

double DiffusionModel::GridTime(int step, int steps) { return 1.0 - static_cast<double>(step) / steps; }

double DiffusionModel::CurrentTime(const IterativeSession& session) const {
  return GridTime(session.step, session.steps);
}

torch::Tensor DiffusionModel::NoiseEstimate(const std::string& prediction, const torch::Tensor& output,
                                            const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& s) {
  if (prediction == "score") return -s * output;
  if (prediction == "denoiser") {
    const torch::Tensor ratio = s / a;
    const torch::Tensor scaled = x / a;
    const torch::Tensor x0_hat = scaled / (ratio * ratio + 1) + ratio / torch::sqrt(ratio * ratio + 1) * output;
    return (scaled - x0_hat) / ratio;
  }
  return output;
}

torch::Tensor DiffusionModel::LossWeight(const std::string& prediction, const torch::Tensor& a,
                                         const torch::Tensor& s) {
  if (prediction == "denoiser") return 1 + (s / a).pow(2);
  return torch::ones_like(a);
}

torch::Tensor DiffusionModel::NoiseFromOutput(const torch::Tensor& output, const torch::Tensor& x, double t) const {
  auto scalar = [&](double value) { return torch::full({1}, value, output.options()); };
  return NoiseEstimate(options().prediction, output, x, scalar(process_.SignalScale(t)),
                       scalar(process_.NoiseScale(t)));
}

torch::Tensor DiffusionModel::PredictNoise(const torch::Tensor& x, double t, const torch::Tensor& covariates) const {
  torch::InferenceMode guard;
  const int64_t rows = x.size(0);
  torch::Tensor context, mask;
  if (network()->options().context) {
    context = torch::zeros_like(x);
    mask = torch::zeros({rows, 1}, x.options());
  }
  torch::Tensor codes = covariates;
  if (!codes.defined() && !manifest().covariates.empty()) {
    std::vector<int64_t> nulls;
    for (const CovariateSpec& spec : manifest().covariates) nulls.push_back(static_cast<int64_t>(spec.values.size()));
    codes = torch::tensor(nulls, torch::kInt64).reshape({1, -1}).expand({rows, -1}).to(device());
  }
  torch::Tensor output =
      Evaluate(x.to(device()), torch::full({rows}, t, torch::kFloat32).to(device()), codes, context, mask, 1.0);
  return NoiseFromOutput(output, x.to(device()), t);
}

torch::Tensor DiffusionModel::InvertDdim(const torch::Tensor& x0, const torch::Tensor& covariates, int steps) const {
  torch::InferenceMode guard;
  torch::Tensor x = x0.to(device());
  // Reverse of the eta = 0 update: from grid point k + 1 (time u) up to grid point k (time t).
  for (int k = steps - 1; k >= 0; --k) {
    const double u = GridTime(k + 1, steps), t = GridTime(k, steps);
    // At u = 0 the noise estimate is taken at the first positive time (eps is undefined at s = 0).
    const double evaluate_at = u > 0 ? u : t;
    torch::Tensor eps = PredictNoise(x, evaluate_at, covariates);
    const double a_u = process_.SignalScale(u), s_u = process_.NoiseScale(u);
    torch::Tensor x0_hat = (x - s_u * eps) / a_u;
    x = process_.SignalScale(t) * x0_hat + process_.NoiseScale(t) * eps;
  }
  return x;
}

torch::Tensor DiffusionModel::InitialState(int64_t rows, const torch::Tensor&, bool, at::Generator& generator) const {
  return torch::randn({rows, network()->options().data_dim}, generator, torch::kFloat32).to(device()) *
         process_.PriorStd();
}

void DiffusionModel::FirstStage(IterativeSession& session, const torch::Tensor& output) const {
  const double t = GridTime(session.step, session.steps);
  const double u = GridTime(session.step + 1, session.steps);
  const double a_t = process_.SignalScale(t), s_t = process_.NoiseScale(t);
  const double a_u = process_.SignalScale(u), s_u = process_.NoiseScale(u);
  const torch::Tensor eps = NoiseFromOutput(output, session.x, t);
  const torch::Tensor x0_hat = (session.x - s_t * eps) / a_t;
  const std::string& sampler = session.sampler;
  if (sampler == "ddpm" || sampler == "ddim") {
    // x_t = (a_t / a_u) x_u + sqrt(s_t^2 - (a_t / a_u)^2 s_u^2) noise; the posterior of x_u given x_t, x_0.
    const double alpha = a_t / a_u;
    const double transition_variance = std::max(0.0, s_t * s_t - alpha * alpha * s_u * s_u);
    const double posterior_variance = transition_variance * s_u * s_u / (s_t * s_t);
    if (sampler == "ddpm") {
      torch::Tensor mean = (alpha * s_u * s_u / (s_t * s_t)) * session.x + (a_u * transition_variance / (s_t * s_t)) * x0_hat;
      session.x = u > 0 ? mean + std::sqrt(posterior_variance) * Noise(session) : mean;
    } else {
      const double c = session.eta * std::sqrt(posterior_variance);
      torch::Tensor next = a_u * x0_hat + std::sqrt(std::max(0.0, s_u * s_u - c * c)) * eps;
      session.x = c > 0 ? next + c * Noise(session) : next;
    }
    ++session.step;
    return;
  }
  if (sampler == "pf_ode_heun") {
    // d(x / a) = eps d(s / a).
    const torch::Tensor scaled = session.x / a_t;
    const torch::Tensor euler = scaled + (s_u / a_u - s_t / a_t) * eps;
    if (u <= 0) {
      session.x = euler * a_u;
      ++session.step;
      return;
    }
    session.saved_x = scaled;
    session.saved_output = eps;
    session.pending = true;
    session.pending_x = euler * a_u;
    session.pending_t = u;
    return;
  }
  // euler_maruyama / predictor_corrector: the predictor.
  if (u <= 0) {
    session.x = x0_hat;
    ++session.step;
    return;
  }
  const double dt = t - u;
  const double f = process_.DriftCoefficient(t), g2 = process_.DiffusionSquared(t);
  const torch::Tensor score = -eps / s_t;
  session.x = session.x - (f * session.x - g2 * score) * dt + std::sqrt(g2 * dt) * Noise(session);
  if (sampler == "predictor_corrector") {
    session.pending = true;
    session.pending_x = session.x;
    session.pending_t = u;
    return;
  }
  ++session.step;
}

void DiffusionModel::SecondStage(IterativeSession& session, const torch::Tensor& output) const {
  const double t = GridTime(session.step, session.steps);
  const double u = session.pending_t;
  const torch::Tensor eps_u = NoiseFromOutput(output, session.pending_x, u);
  if (session.sampler == "pf_ode_heun") {
    const double a_t = process_.SignalScale(t), s_t = process_.NoiseScale(t);
    const double a_u = process_.SignalScale(u), s_u = process_.NoiseScale(u);
    session.x = (session.saved_x + (s_u / a_u - s_t / a_t) * 0.5 * (session.saved_output + eps_u)) * a_u;
  } else {
    // Langevin corrector at time u: x += e score + sqrt(2 e) z with e = 2 (snr |z| / |score|)^2, the norms
    // averaged over the session's rows (Song et al.'s batch average, taken per session so that the step does
    // not depend on batch companions; their VP factor alpha_i = 1 - beta_i is ~1 and omitted).
    const torch::Tensor score = -eps_u / process_.NoiseScale(u);
    const torch::Tensor z = Noise(session);
    const double ratio = kCorrectorSnr * z.norm(2, 1).mean().item<double>() /
                         std::max(score.norm(2, 1).mean().item<double>(), 1e-12);
    const double step_size = 2.0 * ratio * ratio;
    session.x = session.pending_x + step_size * score + std::sqrt(2.0 * step_size) * z;
  }
  session.saved_x = torch::Tensor();
  session.saved_output = torch::Tensor();
  ++session.step;
}

}  // namespace genailab
