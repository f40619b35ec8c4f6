#include "server/core/generative_core.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "data/matrix_codec.h"
#include "data/preprocessing.h"
#include "server/core/covariate_resolver.h"
#include "server/core/gene_matcher.h"

namespace genailab {
namespace {

constexpr char kNegativeBinomial[] = "negative_binomial";
constexpr char kVae[] = "vae";

// The cells of a request in model space: genes in the model's order, preprocessed.
struct ModelInput {
  DenseMatrix x;
  // Negative-binomial models: the request's per-cell totals before preprocessing; empty otherwise.
  std::vector<float> library_size;
};

bool IsNegativeBinomial(const ModelManifest& manifest) { return manifest.likelihood == kNegativeBinomial; }

// The covariates the network is conditioned on: every manifest covariate of a conditional model, none of
// a plain VAE (whose manifest may still list the condition's vocabulary).
std::vector<CovariateSpec> NetworkCovariates(const ModelManifest& manifest) {
  if (manifest.model_type == kVae) return {};
  return manifest.covariates;
}

// Values of the condition covariate that PredictPerturbation accepts.
std::vector<std::string> Conditions(const ModelManifest& manifest) {
  if (manifest.condition_key.empty()) return {};
  const int index = manifest.CovariateIndex(manifest.condition_key);
  if (index >= 0) return manifest.covariates[static_cast<size_t>(index)].values;
  std::vector<std::string> conditions;
  for (const LatentConditionMean& mean : manifest.latent_condition_means) {
    conditions.push_back(mean.condition);
  }
  return conditions;
}

std::vector<std::string> LatentColumnNames(int64_t latent_dim) {
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(std::max<int64_t>(latent_dim, 0)));
  for (int64_t i = 0; i < latent_dim; ++i) names.push_back(absl::StrCat("z", i));
  return names;
}

void SetModelSpec(const ServableModel& servable, v1::ModelSpec* spec) {
  spec->set_name(servable.name);
  spec->set_version(servable.version);
}

std::string HyperparametersJson(const ModelManifest& manifest) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& entry : manifest.hyperparameters) object[entry.first] = entry.second;
  return object.dump();
}

// Decodes request cells and brings them into model space (gene order, preprocessing).
absl::StatusOr<ModelInput> ToModelInput(const ModelManifest& manifest, const v1::Matrix& cells,
                                        const v1::GeneMatching& gene_matching) {
  GENAILAB_ASSIGN_OR_RETURN(DenseMatrix request, MatrixFromProto(cells, "cells"));
  GeneMatchingOptions options;
  options.zero_fill_missing = gene_matching.zero_fill_missing();
  options.ignore_unknown = gene_matching.ignore_unknown();
  GENAILAB_ASSIGN_OR_RETURN(const GeneMatcher matcher,
                            GeneMatcher::Create(ColumnNames(cells), manifest.gene_names, options, "cells"));
  ModelInput input;
  GENAILAB_ASSIGN_OR_RETURN(input.x, matcher.Apply(request));
  if (IsNegativeBinomial(manifest)) input.library_size = RowSums(input.x);
  if (manifest.preprocessing.normalize_total > 0) NormalizeTotal(&input.x, manifest.preprocessing.normalize_total);
  if (manifest.preprocessing.log1p) Log1p(&input.x);
  return input;
}

// Per-cell covariate columns -> codes for the network. `rows` cells.
absl::StatusOr<CovariateCodes> ToCovariateCodes(
    const ModelManifest& manifest, const google::protobuf::RepeatedPtrField<v1::CovariateColumn>& proto,
    int64_t rows, const std::map<std::string, std::string>& overrides) {
  GENAILAB_ASSIGN_OR_RETURN(auto columns, CovariatesFromProto(proto, rows, "covariates"));
  const std::vector<CovariateSpec> specs = NetworkCovariates(manifest);
  if (specs.empty()) return CovariateCodes();
  for (const auto& entry : overrides) {
    columns[entry.first] = std::vector<std::string>(static_cast<size_t>(rows), entry.second);
  }
  return ResolveCovariateColumns(specs, columns, rows, "covariates");
}

PerturbationMethod ResolveMethod(v1::PerturbationMethod method, const ModelManifest& manifest) {
  switch (method) {
    case v1::PERTURBATION_METHOD_LATENT_ARITHMETIC:
      return PerturbationMethod::kLatentArithmetic;
    case v1::PERTURBATION_METHOD_COUNTERFACTUAL:
      return PerturbationMethod::kCounterfactual;
    default:
      return manifest.model_type == kVae ? PerturbationMethod::kLatentArithmetic
                                         : PerturbationMethod::kCounterfactual;
  }
}

v1::PerturbationMethod ToProto(PerturbationMethod method) {
  switch (method) {
    case PerturbationMethod::kLatentArithmetic:
      return v1::PERTURBATION_METHOD_LATENT_ARITHMETIC;
    case PerturbationMethod::kCounterfactual:
      return v1::PERTURBATION_METHOD_COUNTERFACTUAL;
    case PerturbationMethod::kDefault:
      break;
  }
  return v1::PERTURBATION_METHOD_DEFAULT;
}

absl::Status CheckCondition(const std::vector<std::string>& conditions, const std::string& value,
                            const std::string& field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (std::find(conditions.begin(), conditions.end(), value) == conditions.end()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": unknown condition '", value,
                                                   "'; allowed: ", absl::StrJoin(conditions, ", ")));
  }
  return absl::OkStatus();
}

// Checks that the model answered with `rows` x `cols`, so a faulty model cannot produce a malformed
// response.
absl::Status CheckModelOutput(const DenseMatrix& m, int64_t rows, int64_t cols, const std::string& what) {
  if (m.rows != rows || m.cols != cols || static_cast<int64_t>(m.values.size()) != rows * cols) {
    return absl::InternalError(absl::StrCat("model returned a ", m.rows, " x ", m.cols, " ", what,
                                            "; expected ", rows, " x ", cols));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GenerativeCore>> GenerativeCore::Create(ModelManager* manager,
                                                                       Options options) {
  if (manager == nullptr) return absl::InvalidArgumentError("GenerativeCore needs a ModelManager");
  if (options.max_cells_per_request <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_cells_per_request must be positive, got ", options.max_cells_per_request));
  }
  return std::unique_ptr<GenerativeCore>(new GenerativeCore(manager, options));
}

absl::StatusOr<std::shared_ptr<const ServableModel>> GenerativeCore::ResolveModel(
    const v1::ModelSpec& spec) const {
  if (spec.name().empty()) return absl::InvalidArgumentError("model.name is required");
  if (spec.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.version must be 0 (newest) or positive, got ", spec.version()));
  }
  return manager_->Get(spec.name(), spec.version());
}

absl::Status GenerativeCore::CheckCellCount(int64_t cells, const std::string& field) const {
  if (cells <= 0) return absl::InvalidArgumentError(absl::StrCat(field, " must be positive, got ", cells));
  if (cells > options_.max_cells_per_request) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", cells,
                                                   " cells exceed max_cells_per_request (",
                                                   options_.max_cells_per_request, ")"));
  }
  return absl::OkStatus();
}

void GenerativeCore::FillModelInfo(const ServableModel& servable, v1::ModelInfo* info) {
  const ModelManifest& manifest = servable.model->manifest();
  info->set_name(servable.name);
  info->set_version(servable.version);
  info->set_model_type(manifest.model_type);
  info->set_likelihood(manifest.likelihood);
  for (const std::string& gene : manifest.gene_names) info->add_gene_names(gene);
  for (const CovariateSpec& spec : manifest.covariates) {
    v1::CovariateInfo* covariate = info->add_covariates();
    covariate->set_name(spec.name);
    for (const std::string& value : spec.values) covariate->add_values(value);
  }
  info->set_latent_dim(manifest.latent_dim);
  for (const char* rpc : {"Encode", "Decode", "Generate"}) info->add_supported_rpcs(rpc);
  if (!manifest.condition_key.empty()) info->add_supported_rpcs("PredictPerturbation");
  for (const auto& metric : manifest.training_metrics) {
    (*info->mutable_training_metrics())[metric.first] = metric.second;
  }
  info->set_input_space(manifest.preprocessing.input_space);
  info->set_output_space(manifest.OutputSpace());
  info->set_condition_key(manifest.condition_key);
  info->set_data_fingerprint(manifest.data_fingerprint);
  info->set_created_at(manifest.created_at);
  // The manager serves one version per model.
  info->add_loaded_versions(servable.version);
  info->set_hyperparameters_json(HyperparametersJson(manifest));
  for (const std::string& condition : Conditions(manifest)) info->add_conditions(condition);
}

absl::StatusOr<v1::ListModelsResponse> GenerativeCore::ListModels(const v1::ListModelsRequest&) const {
  v1::ListModelsResponse response;
  for (const auto& servable : manager_->List()) FillModelInfo(*servable, response.add_models());
  return response;
}

absl::StatusOr<v1::GetModelResponse> GenerativeCore::GetModel(const v1::GetModelRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  v1::GetModelResponse response;
  FillModelInfo(*servable, response.mutable_model());
  return response;
}

absl::StatusOr<v1::EncodeResponse> GenerativeCore::Encode(const v1::EncodeRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.cells().rows(), "cells.rows"));
  GENAILAB_ASSIGN_OR_RETURN(const ModelInput input,
                            ToModelInput(manifest, request.cells(), request.gene_matching()));
  GENAILAB_ASSIGN_OR_RETURN(const CovariateCodes codes,
                            ToCovariateCodes(manifest, request.covariates(), input.x.rows, {}));
  GENAILAB_ASSIGN_OR_RETURN(const LatentPosterior posterior, servable->model->Encode(input.x, codes));
  GENAILAB_RETURN_IF_ERROR(CheckModelOutput(posterior.mean, input.x.rows, manifest.latent_dim, "latent mean"));
  GENAILAB_RETURN_IF_ERROR(
      CheckModelOutput(posterior.variance, input.x.rows, manifest.latent_dim, "latent variance"));
  v1::EncodeResponse response;
  SetModelSpec(*servable, response.mutable_model());
  const std::vector<std::string> names = LatentColumnNames(manifest.latent_dim);
  MatrixToProto(posterior.mean, names, /*sparse=*/false, response.mutable_latent_mean());
  MatrixToProto(posterior.variance, names, /*sparse=*/false, response.mutable_latent_variance());
  return response;
}

absl::StatusOr<v1::DecodeResponse> GenerativeCore::Decode(const v1::DecodeRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.latent().rows(), "latent.rows"));
  GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix z, MatrixFromProto(request.latent(), "latent"));
  if (z.cols != manifest.latent_dim) {
    return absl::InvalidArgumentError(absl::StrCat("latent.cols: expected latent_dim = ",
                                                   manifest.latent_dim, ", got ", z.cols));
  }
  std::vector<float> library_size(request.library_size().begin(), request.library_size().end());
  if (!library_size.empty() && static_cast<int64_t>(library_size.size()) != z.rows) {
    return absl::InvalidArgumentError(absl::StrCat("library_size: ", library_size.size(),
                                                   " values for ", z.rows, " latent rows (give one per row or none)"));
  }
  for (size_t i = 0; i < library_size.size(); ++i) {
    if (!std::isfinite(library_size[i]) || library_size[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("library_size[", i, "] must be positive and finite, got ", library_size[i]));
    }
  }
  if (!IsNegativeBinomial(manifest)) library_size.clear();
  GENAILAB_ASSIGN_OR_RETURN(const CovariateCodes codes,
                            ToCovariateCodes(manifest, request.covariates(), z.rows, {}));
  GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix expression,
                            servable->model->Decode(z, codes, library_size));
  GENAILAB_RETURN_IF_ERROR(CheckModelOutput(expression, z.rows,
                                            static_cast<int64_t>(manifest.gene_names.size()), "expression"));
  v1::DecodeResponse response;
  SetModelSpec(*servable, response.mutable_model());
  MatrixToProto(expression, manifest.gene_names, /*sparse=*/false, response.mutable_expression());
  return response;
}

absl::StatusOr<v1::GenerateResponse> GenerativeCore::Generate(const v1::GenerateRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  if (request.groups_size() == 0) return absl::InvalidArgumentError("groups: at least one group is required");
  if (!std::isfinite(request.library_size()) || request.library_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "library_size must be 0 (training median) or positive, got ", request.library_size()));
  }
  const std::vector<CovariateSpec> specs = NetworkCovariates(manifest);
  int64_t total = 0;
  CovariateCodes codes(specs.size());
  std::map<std::string, std::vector<std::string>> cell_covariates;
  for (int g = 0; g < request.groups_size(); ++g) {
    const v1::GenerationGroup& group = request.groups(g);
    const std::string field = absl::StrCat("groups[", g, "]");
    const int64_t n = group.n_cells();
    if (n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".n_cells must be positive, got ", n));
    }
    total += n;
    if (total > options_.max_cells_per_request) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".n_cells: the groups ask for ", total,
                                                     " cells so far, over max_cells_per_request (",
                                                     options_.max_cells_per_request, ")"));
    }
    if (specs.empty()) continue;
    const std::map<std::string, std::string> values(group.covariates().begin(), group.covariates().end());
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<int64_t> group_codes,
                              ResolveCovariateValues(specs, values, absl::StrCat(field, ".covariates")));
    for (size_t k = 0; k < specs.size(); ++k) {
      codes[k].insert(codes[k].end(), static_cast<size_t>(n), group_codes[k]);
      auto& column = cell_covariates[specs[k].name];
      column.insert(column.end(), static_cast<size_t>(n), values.at(specs[k].name));
    }
  }
  const bool negative_binomial = IsNegativeBinomial(manifest);
  if (request.sample_counts() && !negative_binomial) {
    return absl::InvalidArgumentError("sample_counts: only negative-binomial models sample counts");
  }
  GENAILAB_ASSIGN_OR_RETURN(
      const DenseMatrix cells,
      servable->model->Generate(total, codes, request.seed(), negative_binomial ? request.library_size() : 0.0f,
                                request.sample_counts()));
  GENAILAB_RETURN_IF_ERROR(
      CheckModelOutput(cells, total, static_cast<int64_t>(manifest.gene_names.size()), "cells"));
  v1::GenerateResponse response;
  SetModelSpec(*servable, response.mutable_model());
  MatrixToProto(cells, manifest.gene_names, /*sparse=*/false, response.mutable_cells());
  CovariatesToProto(cell_covariates, response.mutable_covariates());
  return response;
}

absl::StatusOr<v1::PredictPerturbationResponse> GenerativeCore::PredictPerturbation(
    const v1::PredictPerturbationRequest& request) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  if (manifest.condition_key.empty()) {
    return absl::UnimplementedError(absl::StrCat("model '", servable->name,
                                                 "' has no condition_key and does not support PredictPerturbation"));
  }
  const std::vector<std::string> conditions = Conditions(manifest);
  GENAILAB_RETURN_IF_ERROR(CheckCondition(conditions, request.source_condition(), "source_condition"));
  GENAILAB_RETURN_IF_ERROR(CheckCondition(conditions, request.target_condition(), "target_condition"));
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.cells().rows(), "cells.rows"));
  GENAILAB_ASSIGN_OR_RETURN(const ModelInput input,
                            ToModelInput(manifest, request.cells(), request.gene_matching()));
  std::map<std::string, std::string> overrides;
  if (manifest.CovariateIndex(manifest.condition_key) >= 0) {
    overrides[manifest.condition_key] = request.source_condition();
  }
  // The condition column is optional in the request: drop it and set it from source_condition.
  google::protobuf::RepeatedPtrField<v1::CovariateColumn> covariates;
  for (const v1::CovariateColumn& column : request.covariates()) {
    if (column.name() != manifest.condition_key) *covariates.Add() = column;
  }
  GENAILAB_ASSIGN_OR_RETURN(const CovariateCodes codes,
                            ToCovariateCodes(manifest, covariates, input.x.rows, overrides));
  const PerturbationMethod method = ResolveMethod(request.method(), manifest);
  GENAILAB_ASSIGN_OR_RETURN(
      const DenseMatrix predicted,
      servable->model->PredictPerturbation(input.x, codes, request.source_condition(),
                                           request.target_condition(), method, input.library_size));
  GENAILAB_RETURN_IF_ERROR(CheckModelOutput(predicted, input.x.rows,
                                            static_cast<int64_t>(manifest.gene_names.size()), "cells"));
  v1::PredictPerturbationResponse response;
  SetModelSpec(*servable, response.mutable_model());
  MatrixToProto(predicted, manifest.gene_names, /*sparse=*/false, response.mutable_cells());
  response.set_method(ToProto(method));
  return response;
}

}  // namespace genailab
