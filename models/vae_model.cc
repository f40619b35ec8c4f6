#include "models/vae_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

absl::Status TorchError(const char* operation, const std::exception& error) {
  return absl::InternalError(absl::StrCat(operation, ": torch failed: ", error.what()));
}

// A copy of `covariates` with column `index` set to `code` in every row.
CovariateCodes WithCode(const CovariateCodes& covariates, int index, int64_t code) {
  CovariateCodes result = covariates;
  for (int64_t& value : result[static_cast<size_t>(index)]) value = code;
  return result;
}

int64_t IndexOf(const std::vector<std::string>& values, const std::string& value) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == value) return static_cast<int64_t>(i);
  }
  return -1;
}

const LatentConditionMean* FindLatentMean(const ModelManifest& manifest, const std::string& condition) {
  for (const LatentConditionMean& entry : manifest.latent_condition_means) {
    if (entry.condition == condition) return &entry;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<torch::Device> ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::Device(torch::kCPU);
  if (device == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  int index = 0;
  if (device != "cuda") {
    if (!absl::StartsWith(device, "cuda:") || !absl::SimpleAtoi(device.substr(5), &index) || index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("device must be \"cpu\", \"cuda\", \"cuda:N\" or \"auto\", got \"", device, "\""));
    }
  }
  if (!torch::cuda::is_available()) {
    return absl::UnavailableError(absl::StrCat("device \"", device, "\": CUDA is not available in this build"));
  }
  if (static_cast<size_t>(index) >= torch::cuda::device_count()) {
    return absl::UnavailableError(absl::StrCat("device \"", device, "\": only ", torch::cuda::device_count(),
                                               " CUDA device(s) present"));
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

absl::Status ValidateCovariateCodes(const ModelManifest& manifest, const CovariateCodes& codes, int64_t rows,
                                    const std::string& field) {
  if (codes.empty()) {
    if (manifest.model_type == "cvae") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the model is conditioned on ",
                                                     manifest.covariates.size(), " covariate(s) but none were given"));
    }
    return absl::OkStatus();
  }
  if (codes.size() != manifest.covariates.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", manifest.covariates.size(),
                                                   " covariate column(s) (one per manifest covariate), got ",
                                                   codes.size()));
  }
  for (size_t k = 0; k < codes.size(); ++k) {
    const CovariateSpec& spec = manifest.covariates[k];
    if (static_cast<int64_t>(codes[k].size()) != rows) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", k, "] (\"", spec.name, "\"): expected ", rows,
                                                     " codes, got ", codes[k].size()));
    }
    const int64_t cardinality = static_cast<int64_t>(spec.values.size());
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t code = codes[k][static_cast<size_t>(row)];
      if (code < 0 || code >= cardinality) {
        return absl::InvalidArgumentError(absl::StrCat(field, "[", k, "] (\"", spec.name, "\"): code ", code,
                                                       " at row ", row, " is out of range [0, ", cardinality,
                                                       ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCovariateWeights(const ModelManifest& manifest, const CovariateWeights& weights, int64_t rows,
                                      const std::string& field) {
  if (weights.empty()) {
    if (manifest.model_type == "cvae") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the model is conditioned on ",
                                                     manifest.covariates.size(), " covariate(s) but none were given"));
    }
    return absl::OkStatus();
  }
  if (weights.size() != manifest.covariates.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", manifest.covariates.size(),
                                                   " weight matrices (one per manifest covariate), got ",
                                                   weights.size()));
  }
  for (size_t k = 0; k < weights.size(); ++k) {
    const CovariateSpec& spec = manifest.covariates[k];
    const std::string name = absl::StrCat(field, "[", k, "] (\"", spec.name, "\")");
    GENAILAB_RETURN_IF_ERROR(weights[k].Validate(name));
    if (weights[k].rows != rows || weights[k].cols != static_cast<int64_t>(spec.values.size())) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": expected ", rows, " x ", spec.values.size(),
                                                     " (rows x values), got ", weights[k].rows, " x ",
                                                     weights[k].cols));
    }
    GENAILAB_RETURN_IF_ERROR(weights[k].CheckFinite(name));
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t value = 0; value < weights[k].cols; ++value) {
        if (weights[k].at(row, value) < 0.0f) {
          return absl::InvalidArgumentError(absl::StrCat(name, ": weight of \"", spec.values[value], "\" at row ",
                                                         row, " is negative"));
        }
      }
    }
  }
  return absl::OkStatus();
}

DenseMatrix TensorToMatrix(const torch::Tensor& tensor) {
  torch::Tensor cpu = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  DenseMatrix matrix(cpu.size(0), cpu.size(1));
  if (!matrix.values.empty()) {
    std::memcpy(matrix.values.data(), cpu.data_ptr<float>(), matrix.values.size() * sizeof(float));
  }
  return matrix;
}

VaeModel::VaeModel(ModelManifest manifest, VaeModule module, torch::Device device)
    : manifest_(std::move(manifest)), module_(std::move(module)), device_(device) {}

absl::StatusOr<std::unique_ptr<VaeModel>> VaeModel::Create(ModelManifest manifest, VaeModule module,
                                                           torch::Device device) {
  GENAILAB_ASSIGN_OR_RETURN(VaeModuleOptions options, VaeModuleOptionsFromManifest(manifest));
  const VaeModuleOptions& built = module->options();
  if (built.n_genes != options.n_genes || built.latent_dim != options.latent_dim ||
      built.hidden_dims != options.hidden_dims || built.conditioned != options.conditioned ||
      built.covariate_cardinalities != options.covariate_cardinalities ||
      built.likelihood != options.likelihood) {
    return absl::InvalidArgumentError("manifest does not describe the module's architecture");
  }
  module->eval();
  return std::unique_ptr<VaeModel>(new VaeModel(std::move(manifest), std::move(module), device));
}

bool VaeModel::negative_binomial() const { return manifest_.likelihood == kNegativeBinomialLikelihood; }

absl::Status VaeModel::ValidateMatrix(const DenseMatrix& matrix, int64_t cols, const std::string& field,
                                      const std::string& cols_name) const {
  GENAILAB_RETURN_IF_ERROR(matrix.Validate(field));
  if (matrix.cols != cols) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": has ", matrix.cols, " columns but the model has ", cols, " ", cols_name));
  }
  return matrix.CheckFinite(field);
}

absl::StatusOr<torch::Tensor> VaeModel::LibrarySizes(const std::vector<float>& library_size, int64_t rows) const {
  if (library_size.empty()) {
    if (!(manifest_.median_library_size > 0)) {
      return absl::FailedPreconditionError(
          "library_size: none given and the manifest's median_library_size is not positive");
    }
    return torch::full({rows}, manifest_.median_library_size,
                       torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  }
  if (static_cast<int64_t>(library_size.size()) != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("library_size: expected ", rows, " values (one per row), got ", library_size.size()));
  }
  for (size_t i = 0; i < library_size.size(); ++i) {
    if (!(std::isfinite(library_size[i]) && library_size[i] > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("library_size[", i, "] must be finite and > 0, got ", library_size[i]));
    }
  }
  return torch::tensor(library_size, torch::kFloat32).to(device_);
}

torch::Tensor VaeModel::CovariateTensor(const CovariateCodes& covariates, int64_t rows) const {
  if (manifest_.model_type != "cvae") return torch::Tensor();
  const int64_t columns = static_cast<int64_t>(covariates.size());
  torch::Tensor codes = torch::empty({rows, columns}, torch::kInt64);
  auto accessor = codes.accessor<int64_t, 2>();
  for (int64_t k = 0; k < columns; ++k) {
    for (int64_t row = 0; row < rows; ++row) accessor[row][k] = covariates[k][static_cast<size_t>(row)];
  }
  return codes.to(device_);
}

torch::Tensor VaeModel::ToDevice(const DenseMatrix& matrix) const {
  if (matrix.values.empty()) return torch::zeros({matrix.rows, matrix.cols}, torch::TensorOptions().device(device_));
  // from_blob does not own the memory: clone (on CPU) or copy (to the device) before returning.
  torch::Tensor view = torch::from_blob(const_cast<float*>(matrix.values.data()), {matrix.rows, matrix.cols},
                                        torch::kFloat32);
  return device_.is_cpu() ? view.clone() : view.to(device_);
}

absl::StatusOr<LatentPosterior> VaeModel::Encode(const DenseMatrix& x, const CovariateCodes& covariates) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  try {
    torch::InferenceMode guard;
    VaePosterior posterior = module_.ptr()->Encode(ToDevice(x), CovariateTensor(covariates, x.rows));
    return LatentPosterior{TensorToMatrix(posterior.mean), TensorToMatrix(posterior.log_variance.exp())};
  } catch (const std::exception& error) {
    return TorchError("Encode", error);
  }
}

absl::StatusOr<DenseMatrix> VaeModel::Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                             const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(z, manifest_.latent_dim, "z", "latent dimensions"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, z.rows, "covariates"));
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, z.rows));
    }
    return TensorToMatrix(module_.ptr()->DecodeMean(ToDevice(z), CovariateTensor(covariates, z.rows), library));
  } catch (const std::exception& error) {
    return TorchError("Decode", error);
  }
}

absl::StatusOr<DenseMatrix> VaeModel::Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed,
                                               float library_size, bool sample_counts) const {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("n must be >= 0, got ", n));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, n, "covariates"));
  if (sample_counts && !negative_binomial()) {
    return absl::InvalidArgumentError("sample_counts: only negative_binomial models can sample counts");
  }
  if (std::isnan(library_size)) return absl::InvalidArgumentError("library_size is NaN");
  std::vector<float> library_sizes;
  if (library_size > 0) library_sizes.assign(static_cast<size_t>(n), library_size);
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_sizes, n));
    }
    // Sampled on the CPU from a per-call generator: the same seed gives the same cells on every device and
    // regardless of other calls.
    at::Generator generator = at::detail::createCPUGenerator(seed);
    torch::Tensor z = torch::randn({n, manifest_.latent_dim}, generator, torch::kFloat32);
    torch::Tensor mean =
        module_.ptr()->DecodeMean(z.to(device_), CovariateTensor(covariates, n), library).to(torch::kCPU);
    if (!sample_counts) return TensorToMatrix(mean);
    // NB as a Gamma-Poisson mixture: rate ~ Gamma(theta, theta / mu), counts ~ Poisson(rate).
    torch::Tensor theta = module_.ptr()->Theta().to(torch::kCPU).expand_as(mean).contiguous();
    torch::Tensor rate = at::_standard_gamma(theta, generator) * mean / theta;
    return TensorToMatrix(at::poisson(rate, generator));
  } catch (const std::exception& error) {
    return TorchError("Generate", error);
  }
}

absl::StatusOr<DenseMatrix> VaeModel::PredictPerturbation(const DenseMatrix& x, const CovariateCodes& covariates,
                                                          const std::string& source, const std::string& target,
                                                          PerturbationMethod method,
                                                          const std::vector<float>& library_size) const {
  if (manifest_.condition_key.empty()) {
    return absl::FailedPreconditionError("the manifest has no condition_key: the model cannot predict perturbations");
  }
  // The vocabulary of conditions: the condition covariate's values, or (a "vae" that lists no covariate
  // for it) the conditions that have latent means.
  const int condition_index = manifest_.CovariateIndex(manifest_.condition_key);
  std::vector<std::string> conditions;
  if (condition_index >= 0) {
    conditions = manifest_.covariates[static_cast<size_t>(condition_index)].values;
  } else {
    for (const LatentConditionMean& entry : manifest_.latent_condition_means) conditions.push_back(entry.condition);
  }
  const int64_t source_code = IndexOf(conditions, source);
  const int64_t target_code = IndexOf(conditions, target);
  if (source_code < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("source: unknown ", manifest_.condition_key, " \"", source, "\""));
  }
  if (target_code < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("target: unknown ", manifest_.condition_key, " \"", target, "\""));
  }

  const bool conditioned_on_condition = manifest_.model_type == "cvae" && condition_index >= 0;
  if (method == PerturbationMethod::kDefault) {
    method = conditioned_on_condition ? PerturbationMethod::kCounterfactual : PerturbationMethod::kLatentArithmetic;
  }
  if (method == PerturbationMethod::kCounterfactual && !conditioned_on_condition) {
    return absl::FailedPreconditionError(absl::StrCat(
        "method: counterfactual prediction needs a cvae conditioned on \"", manifest_.condition_key, "\""));
  }
  const LatentConditionMean* source_mean = nullptr;
  const LatentConditionMean* target_mean = nullptr;
  if (method == PerturbationMethod::kLatentArithmetic) {
    source_mean = FindLatentMean(manifest_, source);
    target_mean = FindLatentMean(manifest_, target);
    for (const auto& [condition, entry] : {std::make_pair(source, source_mean), std::make_pair(target, target_mean)}) {
      if (entry == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("latent_condition_means: no latent mean for condition \"", condition, "\""));
      }
      if (static_cast<int64_t>(entry->mean.size()) != manifest_.latent_dim) {
        return absl::FailedPreconditionError(absl::StrCat("latent_condition_means: the mean for \"", condition,
                                                          "\" has ", entry->mean.size(), " values, not latent_dim ",
                                                          manifest_.latent_dim));
      }
    }
  }

  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  const CovariateCodes source_covariates =
      conditioned_on_condition ? WithCode(covariates, condition_index, source_code) : covariates;
  const CovariateCodes target_covariates =
      conditioned_on_condition ? WithCode(covariates, condition_index, target_code) : covariates;
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, x.rows));
    }
    VaeModuleImpl& module = *module_.ptr();
    torch::Tensor z = module.Encode(ToDevice(x), CovariateTensor(source_covariates, x.rows)).mean;
    if (method == PerturbationMethod::kLatentArithmetic) {
      torch::Tensor shift = torch::tensor(target_mean->mean, torch::kFloat32) -
                            torch::tensor(source_mean->mean, torch::kFloat32);
      z = z + shift.to(device_).reshape({1, -1});
    }
    return TensorToMatrix(module.DecodeMean(z, CovariateTensor(target_covariates, x.rows), library));
  } catch (const std::exception& error) {
    return TorchError("PredictPerturbation", error);
  }
}

}  // namespace genailab

namespace genailab {

absl::StatusOr<DenseMatrix> VaeModel::DecodeMixed(const DenseMatrix& z, const CovariateWeights& covariate_weights,
                                                  const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(z, manifest_.latent_dim, "z", "latent dimensions"));
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateWeights(manifest_, covariate_weights, z.rows, "covariate_weights"));
  try {
    torch::InferenceMode guard;
    torch::Tensor library;
    if (negative_binomial()) {
      GENAILAB_ASSIGN_OR_RETURN(library, LibrarySizes(library_size, z.rows));
    }
    std::vector<torch::Tensor> weights;
    if (manifest_.model_type == "cvae") {
      for (const DenseMatrix& matrix : covariate_weights) weights.push_back(ToDevice(matrix));
    }
    return TensorToMatrix(module_.ptr()->DecodeMeanMixed(ToDevice(z), weights, library));
  } catch (const std::exception& error) {
    return TorchError("DecodeMixed", error);
  }
}

absl::StatusOr<LikelihoodBounds> VaeModel::EstimateLikelihoodBounds(const DenseMatrix& x, const DenseMatrix& counts,
                                                                    const CovariateCodes& covariates,
                                                                    const LikelihoodBoundOptions& options) const {
  GENAILAB_RETURN_IF_ERROR(ValidateMatrix(x, manifest_.gene_names.size(), "x", "genes"));
  if (x.rows == 0) return absl::InvalidArgumentError("x: has no rows");
  GENAILAB_RETURN_IF_ERROR(ValidateCovariateCodes(manifest_, covariates, x.rows, "covariates"));
  if (options.samples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("samples: must be >= 1, got ", options.samples));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size: must be >= 1, got ", options.batch_size));
  }
  if (negative_binomial()) {
    GENAILAB_RETURN_IF_ERROR(ValidateMatrix(counts, manifest_.gene_names.size(), "counts", "genes"));
    if (counts.rows != x.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("counts: has ", counts.rows, " rows but x has ", x.rows));
    }
  }
  try {
    torch::InferenceMode guard;
    at::Generator generator = at::detail::createCPUGenerator(options.seed);
    VaeModuleImpl& module = *module_.ptr();
    const torch::Tensor all_x = ToDevice(x);
    const torch::Tensor all_target = negative_binomial() ? ToDevice(counts) : all_x;
    const torch::Tensor all_covariates = CovariateTensor(covariates, x.rows);
    double elbo_sum = 0.0, iwae_sum = 0.0;
    for (int64_t start = 0; start < x.rows; start += options.batch_size) {
      const int64_t length = std::min(options.batch_size, x.rows - start);
      const torch::Tensor batch_x = all_x.narrow(0, start, length);
      const torch::Tensor batch_target = all_target.narrow(0, start, length);
      const torch::Tensor batch_covariates =
          all_covariates.defined() ? all_covariates.narrow(0, start, length) : torch::Tensor();
      const torch::Tensor library = negative_binomial() ? batch_target.sum(1) : torch::Tensor();
      const torch::Tensor log_weights = module.LogImportanceWeights(batch_x, batch_covariates, batch_target, library,
                                                                    options.samples, generator);
      elbo_sum += MonteCarloElbo(log_weights).sum().item<double>();
      iwae_sum += ImportanceWeightedBound(log_weights).sum().item<double>();
    }
    LikelihoodBounds bounds;
    bounds.elbo = elbo_sum / static_cast<double>(x.rows);
    bounds.iwae = iwae_sum / static_cast<double>(x.rows);
    bounds.samples = options.samples;
    bounds.cells = x.rows;
    return bounds;
  } catch (const std::exception& error) {
    return TorchError("EstimateLikelihoodBounds", error);
  }
}

}  // namespace genailab
