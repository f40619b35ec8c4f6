#include "models/diffusion/iterative_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "models/vae_model.h"

namespace genailab {
namespace {

absl::Status TorchError(const std::string& method, const std::exception& error) {
  return absl::InternalError(absl::StrCat(method, ": torch failed: ", error.what()));
}

int64_t IndexOf(const std::vector<std::string>& values, const std::string& value) {
  auto it = std::find(values.begin(), values.end(), value);
  return it == values.end() ? -1 : static_cast<int64_t>(it - values.begin());
}

}  // namespace

torch::Tensor CovariateCodesToTensor(const CovariateCodes& codes, int64_t rows) {
  if (codes.empty()) return torch::Tensor();
  torch::Tensor tensor = torch::empty({rows, static_cast<int64_t>(codes.size())}, torch::kInt64);
  auto accessor = tensor.accessor<int64_t, 2>();
  for (size_t k = 0; k < codes.size(); ++k) {
    for (int64_t row = 0; row < rows; ++row) accessor[row][static_cast<int64_t>(k)] = codes[k][row];
  }
  return tensor;
}

torch::Tensor MatrixToCpuTensor(const DenseMatrix& matrix) {
  return torch::from_blob(const_cast<float*>(matrix.values.data()), {matrix.rows, matrix.cols}, torch::kFloat32)
      .clone();
}

CovariateCodes TensorToCovariateCodes(const torch::Tensor& codes) {
  if (!codes.defined()) return {};
  const torch::Tensor cpu = codes.to(torch::kCPU).to(torch::kInt64).contiguous();
  auto accessor = cpu.accessor<int64_t, 2>();
  CovariateCodes out(static_cast<size_t>(cpu.size(1)), std::vector<int64_t>(static_cast<size_t>(cpu.size(0))));
  for (int64_t k = 0; k < cpu.size(1); ++k) {
    for (int64_t row = 0; row < cpu.size(0); ++row) out[k][row] = accessor[row][k];
  }
  return out;
}

IterativeModel::IterativeModel(ModelManifest manifest, IterativeModelOptions options, DenoiserNetwork network,
                               torch::Device device)
    : manifest_(std::move(manifest)), options_(std::move(options)), network_(std::move(network)), device_(device) {
  std::vector<int64_t> nulls;
  for (const CovariateSpec& spec : manifest_.covariates) nulls.push_back(static_cast<int64_t>(spec.values.size()));
  if (!nulls.empty()) null_codes_ = torch::tensor(nulls, torch::kInt64).reshape({1, -1}).to(device_);
  network_.ptr()->eval();
}

absl::Status IterativeModel::AttachLatentSpace(std::unique_ptr<VaeLatentSpace> latent_space) {
  if (latent_space_ != nullptr) return absl::FailedPreconditionError("a latent space is already attached");
  if (latent_space == nullptr) return absl::InvalidArgumentError("latent_space is null");
  if (options_.representation != kVaeLatentRepresentation) {
    return absl::InvalidArgumentError(absl::StrCat("representation is \"", options_.representation,
                                                   "\"; only vae_latent models sample in a VAE latent space"));
  }
  if (latent_space->latent_dim() != network_->options().genes) {
    return absl::InvalidArgumentError(absl::StrCat("vae: latent_dim ", latent_space->latent_dim(),
                                                   " differs from the network's input width ",
                                                   network_->options().genes));
  }
  latent_space_ = std::move(latent_space);
  return absl::OkStatus();
}

absl::StatusOr<LatentPosterior> IterativeModel::Encode(const DenseMatrix& x, const CovariateCodes& covariates) const {
  if (latent_space_ == nullptr) {
    return absl::UnimplementedError(absl::StrCat("Encode: a ", manifest_.model_type,
                                                 " model in PCA space has no encoder (it samples iteratively)"));
  }
  return latent_space_->Encode(x, covariates);
}

absl::StatusOr<DenseMatrix> IterativeModel::Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                                   const std::vector<float>& library_size) const {
  if (latent_space_ == nullptr) {
    return absl::UnimplementedError(absl::StrCat("Decode: a ", manifest_.model_type,
                                                 " model in PCA space has no decoder (it samples iteratively)"));
  }
  return latent_space_->Decode(z, covariates, library_size);
}

absl::StatusOr<torch::Tensor> IterativeModel::ModelSpaceInput(const DenseMatrix& x,
                                                             const CovariateCodes& covariates) const {
  if (latent_space_ == nullptr) return MatrixToCpuTensor(x);
  GENAILAB_ASSIGN_OR_RETURN(LatentPosterior posterior, latent_space_->Encode(x, covariates));
  return MatrixToCpuTensor(posterior.mean);
}

absl::StatusOr<SamplerOptions> IterativeModel::ResolveSampler(const SamplerOptions& sampler) const {
  SamplerOptions resolved = sampler;
  if (resolved.sampler.empty()) resolved.sampler = options_.sampler;
  const std::vector<std::string> known = Samplers();
  if (std::find(known.begin(), known.end(), resolved.sampler) == known.end()) {
    return absl::InvalidArgumentError(absl::StrCat("sampler '", resolved.sampler, "' is not one of: ",
                                                   absl::StrJoin(known, ", ")));
  }
  if (resolved.steps < 0) return absl::InvalidArgumentError(absl::StrCat("steps must be >= 0, got ", resolved.steps));
  if (resolved.steps == 0) resolved.steps = options_.sampling_steps;
  if (!(resolved.eta >= 0.0f && resolved.eta <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("eta must be in [0, 1], got ", resolved.eta));
  }
  if (!(resolved.guidance_scale >= 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("guidance_scale must be >= 0, got ", resolved.guidance_scale));
  }
  if (resolved.guidance_scale == 0.0f) resolved.guidance_scale = static_cast<float>(options_.guidance_scale);
  return resolved;
}

torch::Tensor IterativeModel::CovariateTensor(const CovariateCodes& codes, int64_t rows) const {
  if (!null_codes_.defined()) return torch::Tensor();
  if (codes.empty()) return null_codes_.expand({rows, null_codes_.size(1)}).clone();
  return CovariateCodesToTensor(codes, rows).to(device_);
}

torch::Tensor IterativeModel::Noise(IterativeSession& session) const {
  return torch::randn({session.rows(), network_->options().data_dim}, session.generator, torch::kFloat32)
      .to(device_);
}

absl::StatusOr<std::unique_ptr<IterativeSession>> IterativeModel::BeginFromState(
    const torch::Tensor& initial, const torch::Tensor& covariates, const torch::Tensor& context,
    const torch::Tensor& context_mask, uint64_t seed, const SamplerOptions& sampler) const {
  GENAILAB_ASSIGN_OR_RETURN(SamplerOptions resolved, ResolveSampler(sampler));
  auto session = std::make_unique<IterativeSession>();
  session->owner = this;
  session->sampler = resolved.sampler;
  session->steps = resolved.steps;
  session->eta = resolved.eta;
  session->guidance_scale = resolved.guidance_scale;
  session->generator = at::detail::createCPUGenerator(seed);
  session->x = initial.to(device_);
  const int64_t rows = initial.size(0);
  session->covariates = covariates.defined() ? covariates.to(device_) : CovariateTensor({}, rows);
  if (network_->options().context) {
    session->context = context.defined() ? context.to(device_)
                                         : torch::zeros({rows, network_->options().data_dim}, torch::kFloat32).to(device_);
    session->context_mask =
        context_mask.defined() ? context_mask.to(device_) : torch::zeros({rows, 1}, torch::kFloat32).to(device_);
  }
  return session;
}

absl::StatusOr<std::unique_ptr<SamplingSession>> IterativeModel::BeginGeneration(
    int64_t n, const CovariateCodes& covariates, uint64_t seed, const SamplerOptions& sampler) const {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("n must be >= 0, got ", n));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, n, "covariates"));
  if (latent_space_ != nullptr && latent_space_->conditional() && covariates.empty()) {
    return absl::InvalidArgumentError(
        "covariates: this model decodes through a conditional VAE, which needs every covariate's value");
  }
  try {
    torch::InferenceMode guard;
    GENAILAB_ASSIGN_OR_RETURN(SamplerOptions resolved, ResolveSampler(sampler));
    at::Generator generator = at::detail::createCPUGenerator(seed);
    torch::Tensor initial = InitialState(n, torch::Tensor(), /*perturbation=*/false, generator);
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<IterativeSession> session,
                              BeginFromState(initial, CovariateTensor(covariates, n), torch::Tensor(),
                                             torch::Tensor(), seed, resolved));
    // The initial draw came from the request's stream; the session continues that same stream.
    session->generator = generator;
    return std::unique_ptr<SamplingSession>(std::move(session));
  } catch (const std::exception& error) {
    return TorchError("BeginGeneration", error);
  }
}

absl::StatusOr<std::unique_ptr<SamplingSession>> IterativeModel::BeginPerturbation(
    const DenseMatrix& x, const CovariateCodes& covariates, const std::string& source, const std::string& target,
    uint64_t seed, const SamplerOptions& sampler) const {
  if (manifest_.condition_key.empty()) {
    return absl::FailedPreconditionError("the manifest has no condition_key: the model cannot predict perturbations");
  }
  const int condition_index = manifest_.CovariateIndex(manifest_.condition_key);
  if (condition_index < 0 || !network_->options().context) {
    return absl::FailedPreconditionError(absl::StrCat("the model is not conditioned on its condition_key \"",
                                                      manifest_.condition_key, "\""));
  }
  const std::vector<std::string>& conditions = manifest_.covariates[condition_index].values;
  if (IndexOf(conditions, source) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("source: unknown ", manifest_.condition_key, " \"", source, "\""));
  }
  const int64_t target_code = IndexOf(conditions, target);
  if (target_code < 0) {
    return absl::InvalidArgumentError(absl::StrCat("target: unknown ", manifest_.condition_key, " \"", target, "\""));
  }
  GENAILAB_RETURN_IF_ERROR(x.Validate("x"));
  if (x.cols != static_cast<int64_t>(manifest_.gene_names.size())) {
    return absl::InvalidArgumentError(absl::StrCat("x: has ", x.cols, " columns but the model has ",
                                                   manifest_.gene_names.size(), " genes"));
  }
  GENAILAB_RETURN_IF_ERROR(x.CheckFinite("x"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  try {
    torch::InferenceMode guard;
    GENAILAB_ASSIGN_OR_RETURN(SamplerOptions resolved, ResolveSampler(sampler));
    torch::Tensor codes = CovariateTensor(covariates, x.rows);
    codes.select(1, condition_index).fill_(target_code);
    GENAILAB_ASSIGN_OR_RETURN(torch::Tensor inputs, ModelSpaceInput(x, covariates));
    torch::Tensor source_cells = network_->Project(inputs.to(device_));
    at::Generator generator = at::detail::createCPUGenerator(seed);
    torch::Tensor initial = InitialState(x.rows, source_cells, /*perturbation=*/true, generator);
    GENAILAB_ASSIGN_OR_RETURN(
        std::unique_ptr<IterativeSession> session,
        BeginFromState(initial, codes, SourceAsContext() ? source_cells : torch::zeros_like(source_cells),
                       torch::ones({x.rows, 1}, torch::kFloat32), seed, resolved));
    session->generator = generator;
    return std::unique_ptr<SamplingSession>(std::move(session));
  } catch (const std::exception& error) {
    return TorchError("BeginPerturbation", error);
  }
}

torch::Tensor IterativeModel::Evaluate(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& covariates,
                                       const torch::Tensor& context, const torch::Tensor& context_mask,
                                       double guidance_scale) const {
  DenoiserNetworkImpl& network = *network_.ptr();
  if (guidance_scale == 1.0 || !covariates.defined()) return network.forward(x, t, covariates, context, context_mask);
  // Conditional and unconditional rows in one pass: out = uncond + w (cond - uncond).
  const int64_t rows = x.size(0);
  auto twice = [](const torch::Tensor& v) { return v.defined() ? torch::cat({v, v}, 0) : v; };
  torch::Tensor codes = torch::cat({covariates, null_codes_.expand({rows, null_codes_.size(1)})}, 0);
  torch::Tensor both = network.forward(twice(x), twice(t), codes, twice(context), twice(context_mask));
  torch::Tensor conditional = both.slice(0, 0, rows);
  torch::Tensor unconditional = both.slice(0, rows);
  return unconditional + guidance_scale * (conditional - unconditional);
}

std::vector<torch::Tensor> IterativeModel::EvaluateSessions(const std::vector<IterativeSession*>& sessions,
                                                            bool second_stage) const {
  // Rows of every session (and, for guided sessions, their unconditional twins) in one forward pass.
  std::vector<torch::Tensor> xs, ts, codes, contexts, masks;
  std::vector<int64_t> offsets;
  int64_t total = 0;
  auto append = [&](IterativeSession& s, const torch::Tensor& x, double t, const torch::Tensor& code) {
    offsets.push_back(total);
    total += s.rows();
    xs.push_back(x);
    ts.push_back(torch::full({s.rows()}, t, torch::kFloat32).to(device_));
    if (code.defined()) codes.push_back(code);
    if (s.context.defined()) {
      contexts.push_back(s.context);
      masks.push_back(s.context_mask);
    }
  };
  std::vector<bool> guided;
  for (IterativeSession* s : sessions) {
    const torch::Tensor& x = second_stage ? s->pending_x : s->x;
    const double t = second_stage ? s->pending_t : CurrentTime(*s);
    append(*s, x, t, s->covariates);
  }
  for (IterativeSession* s : sessions) {
    guided.push_back(s->guidance_scale != 1.0 && s->covariates.defined());
    if (!guided.back()) continue;
    const torch::Tensor& x = second_stage ? s->pending_x : s->x;
    const double t = second_stage ? s->pending_t : CurrentTime(*s);
    append(*s, x, t, null_codes_.expand({s->rows(), null_codes_.size(1)}));
  }
  auto cat = [](const std::vector<torch::Tensor>& parts) { return parts.empty() ? torch::Tensor() : torch::cat(parts, 0); };
  torch::Tensor output = network_.ptr()->forward(cat(xs), cat(ts), cat(codes), cat(contexts), cat(masks));
  std::vector<torch::Tensor> results;
  size_t twin = sessions.size();
  for (size_t i = 0; i < sessions.size(); ++i) {
    torch::Tensor conditional = output.slice(0, offsets[i], offsets[i] + sessions[i]->rows());
    if (guided[i]) {
      torch::Tensor unconditional = output.slice(0, offsets[twin], offsets[twin] + sessions[i]->rows());
      ++twin;
      conditional = unconditional + sessions[i]->guidance_scale * (conditional - unconditional);
    }
    results.push_back(conditional);
  }
  return results;
}

absl::Status IterativeModel::StepSessions(const std::vector<SamplingSession*>& sessions) const {
  std::vector<IterativeSession*> active;
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto* session = dynamic_cast<IterativeSession*>(sessions[i]);
    if (session == nullptr || session->owner != this) {
      return absl::InvalidArgumentError(absl::StrCat("sessions[", i, "] was not started by this model"));
    }
    if (session->done()) return absl::InvalidArgumentError(absl::StrCat("sessions[", i, "] is already done"));
    if (std::find(active.begin(), active.end(), session) != active.end()) {
      return absl::InvalidArgumentError(absl::StrCat("sessions[", i, "] is listed twice"));
    }
    active.push_back(session);
  }
  if (active.empty()) return absl::OkStatus();
  try {
    torch::InferenceMode guard;
    std::vector<torch::Tensor> first = EvaluateSessions(active, /*second_stage=*/false);
    std::vector<IterativeSession*> second;
    for (size_t i = 0; i < active.size(); ++i) {
      FirstStage(*active[i], first[i]);
      if (active[i]->pending) second.push_back(active[i]);
    }
    if (!second.empty()) {
      std::vector<torch::Tensor> outputs = EvaluateSessions(second, /*second_stage=*/true);
      for (size_t i = 0; i < second.size(); ++i) {
        second[i]->pending = false;
        SecondStage(*second[i], outputs[i]);
      }
    }
    return absl::OkStatus();
  } catch (const std::exception& error) {
    return TorchError("StepSessions", error);
  }
}

absl::StatusOr<torch::Tensor> IterativeModel::RunToEnd(IterativeSession* session) const {
  while (!session->done()) GENAILAB_RETURN_IF_ERROR(StepSessions({session}));
  return session->x;
}

absl::StatusOr<DenseMatrix> IterativeModel::FinishSession(SamplingSession* session) const {
  auto* state = dynamic_cast<IterativeSession*>(session);
  if (state == nullptr || state->owner != this) {
    return absl::InvalidArgumentError("session was not started by this model");
  }
  if (!state->done()) {
    return absl::FailedPreconditionError(absl::StrCat("session has done ", state->steps_done(), " of ",
                                                      state->steps_total(), " steps"));
  }
  try {
    DenseMatrix coordinates;
    CovariateCodes codes;
    {
      torch::InferenceMode guard;
      coordinates = TensorToMatrix(network_->Reconstruct(state->x).to(torch::kCPU));
      if (latent_space_ != nullptr) codes = TensorToCovariateCodes(state->covariates);
    }
    if (latent_space_ == nullptr) return coordinates;
    return latent_space_->Decode(coordinates, codes, state->library_size);
  } catch (const std::exception& error) {
    return TorchError("FinishSession", error);
  }
}

absl::StatusOr<DenseMatrix> IterativeModel::Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                                     float library_size, bool sample_counts) const {
  if (sample_counts) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample_counts: a ", manifest_.model_type,
                     " model returns expression (or its VAE decoder's mean), never sampled counts"));
  }
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<SamplingSession> session,
                            BeginGeneration(n, covariates, seed, SamplerOptions()));
  if (library_size > 0) {
    session->SetLibrarySize(std::vector<float>(static_cast<size_t>(n), library_size));
  }
  while (!session->done()) GENAILAB_RETURN_IF_ERROR(StepSessions({session.get()}));
  return FinishSession(session.get());
}

absl::StatusOr<DenseMatrix> IterativeModel::PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                                const std::string& source, const std::string& target,
                                                                PerturbationMethod method,
                                                                const std::vector<float>& library_size) const {
  if (method != PerturbationMethod::kDefault) {
    return absl::InvalidArgumentError(absl::StrCat("method: a ", manifest_.model_type,
                                                   " model predicts perturbations by iterative sampling only"));
  }
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<SamplingSession> session,
                            BeginPerturbation(x, covariates, source, target, /*seed=*/0, SamplerOptions()));
  session->SetLibrarySize(library_size);
  while (!session->done()) GENAILAB_RETURN_IF_ERROR(StepSessions({session.get()}));
  return FinishSession(session.get());
}

}  // namespace genailab
