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
#include "common/model_name.h"
#include "common/status_macros.h"
#include "data/matrix_codec.h"
#include "data/preprocessing.h"
#include "models/perturbation_method_codec.h"
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

// True when `names` are exactly `genes`, in order (and not empty).
bool SameNames(const google::protobuf::RepeatedPtrField<std::string>& names, const std::vector<std::string>& genes) {
  if (names.empty() || static_cast<size_t>(names.size()) != genes.size()) return false;
  for (int i = 0; i < names.size(); ++i) {
    if (names.Get(i) != genes[static_cast<size_t>(i)]) return false;
  }
  return true;
}

// The column names a response carries: `names`, or none when the request asked to omit them.
const std::vector<std::string>& ResponseColumnNames(bool omit, const std::vector<std::string>& names) {
  static const std::vector<std::string>* const kNone = new std::vector<std::string>();
  return omit ? *kNone : names;
}

// Decodes request cells and brings them into model space (gene order, preprocessing).
absl::StatusOr<ModelInput> ToModelInput(const ModelManifest& manifest, const v1::Matrix& cells,
                                        const v1::GeneMatching& gene_matching) {
  const double target_sum = manifest.preprocessing.normalize_total;
  const bool in_model_order = SameNames(cells.column_names(), manifest.gene_names);
  if (cells.storage_case() == v1::Matrix::kDense && target_sum > 0 && manifest.preprocessing.log1p &&
      in_model_order) {
    // The usual request: dense values of the model's genes in its order, for a model trained on
    // normalize_total + log1p. One pass reads them where the message holds them, checks them and writes
    // the model's input, with the same result and errors as the general path below.
    GENAILAB_RETURN_IF_ERROR(CheckMatrixShape(cells, "cells"));
    const float* values = cells.dense().values().data();
    ModelInput input;
    if (IsNegativeBinomial(manifest)) input.library_size = RowSums(values, cells.rows(), cells.cols());
    GENAILAB_ASSIGN_OR_RETURN(
        input.x, NormalizeTotalLog1pFrom(values, cells.rows(), cells.cols(), target_sum,
                                         input.library_size.empty() ? nullptr : &input.library_size, "cells"));
    return input;
  }
  GENAILAB_ASSIGN_OR_RETURN(DenseMatrix request, MatrixFromProto(cells, "cells"));
  ModelInput input;
  if (in_model_order) {
    // The request names the model's genes in the model's order (CSR, or other preprocessing). Matching
    // would be the identity, so skip building the matcher (a hash map of every gene name, per request).
    input.x = std::move(request);
  } else {
    GeneMatchingOptions options;
    options.zero_fill_missing = gene_matching.zero_fill_missing();
    options.ignore_unknown = gene_matching.ignore_unknown();
    GENAILAB_ASSIGN_OR_RETURN(const GeneMatcher matcher,
                              GeneMatcher::Create(ColumnNames(cells), manifest.gene_names, options, "cells"));
    GENAILAB_ASSIGN_OR_RETURN(input.x, matcher.Apply(request));
  }
  if (IsNegativeBinomial(manifest)) input.library_size = RowSums(input.x);
  if (target_sum > 0 && manifest.preprocessing.log1p) {
    NormalizeTotalLog1p(&input.x, target_sum, input.library_size.empty() ? nullptr : &input.library_size);
    return input;
  }
  if (target_sum > 0) NormalizeTotal(&input.x, target_sum);
  if (manifest.preprocessing.log1p) Log1p(&input.x);
  return input;
}

// Per-cell covariate columns -> codes for the network. `rows` cells.
absl::StatusOr<CovariateCodes> ToCovariateCodes(
    const ModelManifest& manifest, const google::protobuf::RepeatedPtrField<v1::CovariateColumn>& proto,
    int64_t rows, const std::map<std::string, std::string>& overrides) {
  GENAILAB_ASSIGN_OR_RETURN(auto columns, CovariatesFromProto(proto, rows, "covariates"));
  const std::vector<CovariateSpec>& specs = NetworkCovariates(manifest);
  if (specs.empty()) return CovariateCodes();
  for (const auto& entry : overrides) {
    columns[entry.first] = std::vector<std::string>(static_cast<size_t>(rows), entry.second);
  }
  return ResolveCovariateColumns(specs, columns, rows, "covariates");
}

// The request's method, or the model's default for PERTURBATION_METHOD_DEFAULT.
PerturbationMethod ResolveMethod(v1::PerturbationMethod requested, const ModelManifest& manifest) {
  const PerturbationMethod method = PerturbationMethodFromProto(requested);
  if (method != PerturbationMethod::kDefault) return method;
  return manifest.model_type == kVae ? PerturbationMethod::kLatentArithmetic : PerturbationMethod::kCounterfactual;
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

// The synchronous face of an asynchronous call that writes its response in place: `start(response,
// done)` must arrange for `done` to be called once. Waits as RequestCompletion::Wait does; the response
// stays alive with `done`, so a wait given up early leaves nothing dangling.
template <typename Response, typename Start>
absl::StatusOr<Response> AwaitResponse(const CallContext& call, Start&& start) {
  auto response = std::make_shared<Response>();
  auto completion = std::make_shared<RequestCompletion<std::shared_ptr<Response>>>();
  start(response.get(), StatusCallback([completion, response](absl::Status status) {
          if (status.ok()) {
            completion->Set(response);
          } else {
            completion->Set(std::move(status));
          }
        }));
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<Response> result, completion->Wait(call));
  return std::move(*result);
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
  // A name that could not be a repository folder (e.g. "../etc") is malformed, not merely unknown.
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(spec.name(), "model.name"));
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

void GenerativeCore::FillModelInfo(const ServableModel& servable, const ModelManager* manager,
                                   v1::ModelInfo* info) {
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
  if (servable.model->HasLatentSpace()) {
    for (const char* rpc : {"Encode", "Decode"}) info->add_supported_rpcs(rpc);
  }
  info->add_supported_rpcs("Generate");
  if (!manifest.condition_key.empty()) info->add_supported_rpcs("PredictPerturbation");
  if (manifest.model_type == "vae" || manifest.model_type == "cvae") {
    for (const char* rpc : {"Interpolate", "TraverseLatent"}) info->add_supported_rpcs(rpc);
  }
  for (const auto& metric : manifest.training_metrics) {
    (*info->mutable_training_metrics())[metric.first] = metric.second;
  }
  info->set_input_space(manifest.preprocessing.input_space);
  info->set_output_space(manifest.OutputSpace());
  info->set_condition_key(manifest.condition_key);
  info->set_data_fingerprint(manifest.data_fingerprint);
  info->set_created_at(manifest.created_at);
  info->set_hyperparameters_json(HyperparametersJson(manifest));
  for (const std::string& condition : Conditions(manifest)) info->add_conditions(condition);
  for (const std::string& sampler : servable.model->Samplers()) info->add_samplers(sampler);
  if (manager == nullptr) {
    info->add_loaded_versions(servable.version);
    return;
  }
  for (const int64_t version : manager->ServedVersions(servable.name)) info->add_loaded_versions(version);
  for (const VersionInfo& version : manager->Versions(servable.name)) {
    v1::VersionStatus* status = info->add_versions();
    status->set_version(version.version);
    switch (version.state) {
      case VersionState::kLoading:
        status->set_state(v1::VersionStatus::LOADING);
        break;
      case VersionState::kAvailable:
        status->set_state(v1::VersionStatus::AVAILABLE);
        break;
      case VersionState::kDraining:
        status->set_state(v1::VersionStatus::DRAINING);
        break;
      case VersionState::kUnloaded:
        status->set_state(v1::VersionStatus::UNLOADED);
        break;
      case VersionState::kFailed:
        status->set_state(v1::VersionStatus::FAILED);
        status->set_error(version.error);
        break;
    }
  }
}

absl::StatusOr<v1::ListModelsResponse> GenerativeCore::ListModels(const v1::ListModelsRequest&,
                                                                  const CallContext&) const {
  v1::ListModelsResponse response;
  for (const auto& servable : manager_->List()) FillModelInfo(*servable, manager_, response.add_models());
  return response;
}

absl::StatusOr<v1::GetModelResponse> GenerativeCore::GetModel(const v1::GetModelRequest& request,
                                                              const CallContext&) const {
  GENAILAB_ASSIGN_OR_RETURN(const auto servable, ResolveModel(request.model()));
  v1::GetModelResponse response;
  FillModelInfo(*servable, manager_, response.mutable_model());
  return response;
}

absl::StatusOr<v1::LoadModelResponse> GenerativeCore::LoadModel(const v1::LoadModelRequest& request,
                                                                const CallContext&) const {
  if (request.model().name().empty()) return absl::InvalidArgumentError("model.name is required");
  GENAILAB_ASSIGN_OR_RETURN(const auto servable,
                            manager_->LoadModel(request.model().name(), request.model().version()));
  v1::LoadModelResponse response;
  FillModelInfo(*servable, manager_, response.mutable_model());
  return response;
}

absl::StatusOr<v1::UnloadModelResponse> GenerativeCore::UnloadModel(const v1::UnloadModelRequest& request,
                                                                    const CallContext&) const {
  if (request.model().name().empty()) return absl::InvalidArgumentError("model.name is required");
  GENAILAB_RETURN_IF_ERROR(manager_->UnloadModel(request.model().name(), request.model().version()));
  return v1::UnloadModelResponse();
}

uint64_t BlockSeed(uint64_t seed, int64_t block) {
  if (block == 0) return seed;
  // SplitMix64 of (seed, block): well-mixed, distinct streams per block.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(block + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void GenerativeCore::RunRowsAsync(const ServableModel& servable, const std::string& key, RowInput input,
                                  const RowFunction& function, const CallContext& call,
                                  Callback<RowOutput> done) const {
  const int64_t rows = input.x.rows;
  const int64_t split = options_.split_cells > 0 ? options_.split_cells : rows;
  // Submits one part; a refused task is failed here, which completes its completion.
  const auto submit = [&](RowInput part, std::shared_ptr<RequestCompletion<RowOutput>> completion) {
    std::unique_ptr<BatchTask> task = std::make_unique<RowTask>(key, std::move(part), function, std::move(completion));
    task->deadline = call.deadline;
    task->is_cancelled = call.is_cancelled;
    const absl::Status status = servable.Submit(task);
    if (!status.ok()) task->Fail(status);
    return status.ok();
  };
  if (rows <= split) {
    submit(std::move(input), std::make_shared<RequestCompletion<RowOutput>>(std::move(done)));
    return;
  }
  const size_t parts = static_cast<size_t>((rows + split - 1) / split);
  auto join = std::make_shared<CompletionJoin<RowOutput>>(
      parts, [done = std::move(done)](absl::StatusOr<std::vector<RowOutput>> outputs) {
        if (!outputs.ok()) return done(outputs.status());
        RowOutput merged;
        for (const RowOutput& output : *outputs) {
          AppendRows(output.first, &merged.first);
          if (output.second.rows > 0) AppendRows(output.second, &merged.second);
        }
        done(std::move(merged));
      });
  for (size_t i = 0; i < parts; ++i) {
    const int64_t begin = static_cast<int64_t>(i) * split;
    const int64_t end = std::min(rows, begin + split);
    RowInput part;
    part.x = SliceRows(input.x, begin, end);
    part.codes = SliceCodes(input.codes, begin, end);
    if (!input.library_size.empty()) {
      part.library_size.assign(input.library_size.begin() + begin, input.library_size.begin() + end);
    }
    // A refused part fails the whole join; the parts already submitted run and are dropped.
    if (!submit(std::move(part), join->Part(i))) return;
  }
}

void GenerativeCore::EncodeAsync(const v1::EncodeRequest& request, const CallContext& call,
                                 v1::EncodeResponse* response, StatusCallback done) const {
  const absl::Status status = StartEncode(request, call, response, done);
  if (!status.ok()) done(status);
}

absl::Status GenerativeCore::StartEncode(const v1::EncodeRequest& request, const CallContext& call,
                                         v1::EncodeResponse* response, StatusCallback& done) const {
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<const ServableModel> servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.cells().rows(), "cells.rows"));
  GENAILAB_ASSIGN_OR_RETURN(ModelInput input, ToModelInput(manifest, request.cells(), request.gene_matching()));
  const int64_t rows = input.x.rows;
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, ToCovariateCodes(manifest, request.covariates(), rows, {}));
  const RowFunction encode = [](const GenerativeModel& model, const RowInput& in) -> absl::StatusOr<RowOutput> {
    GENAILAB_ASSIGN_OR_RETURN(LatentPosterior posterior, model.Encode(in.x, in.codes));
    return RowOutput{std::move(posterior.mean), std::move(posterior.variance)};
  };
  const ServableModel& model = *servable;
  RunRowsAsync(model, "encode", RowInput{std::move(input.x), std::move(codes), {}}, encode, call,
               [servable = std::move(servable), rows, response, omit_names = request.omit_column_names(),
                done = std::move(done)](absl::StatusOr<RowOutput> posterior) {
                 done([&]() -> absl::Status {
                   GENAILAB_RETURN_IF_ERROR(posterior.status());
                   const int64_t latent_dim = servable->model->manifest().latent_dim;
                   GENAILAB_RETURN_IF_ERROR(CheckModelOutput(posterior->first, rows, latent_dim, "latent mean"));
                   GENAILAB_RETURN_IF_ERROR(
                       CheckModelOutput(posterior->second, rows, latent_dim, "latent variance"));
                   SetModelSpec(*servable, response->mutable_model());
                   const std::vector<std::string> names =
                       omit_names ? std::vector<std::string>() : LatentColumnNames(latent_dim);
                   MatrixToProto(posterior->first, names, /*sparse=*/false, response->mutable_latent_mean());
                   MatrixToProto(posterior->second, names, /*sparse=*/false, response->mutable_latent_variance());
                   return absl::OkStatus();
                 }());
               });
  return absl::OkStatus();
}

absl::StatusOr<v1::EncodeResponse> GenerativeCore::Encode(const v1::EncodeRequest& request,
                                                          const CallContext& call) const {
  return AwaitResponse<v1::EncodeResponse>(call, [&](v1::EncodeResponse* response, StatusCallback done) {
    EncodeAsync(request, call, response, std::move(done));
  });
}

void GenerativeCore::DecodeAsync(const v1::DecodeRequest& request, const CallContext& call,
                                 v1::DecodeResponse* response, StatusCallback done) const {
  const absl::Status status = StartDecode(request, call, response, done);
  if (!status.ok()) done(status);
}

absl::StatusOr<v1::DecodeResponse> GenerativeCore::Decode(const v1::DecodeRequest& request,
                                                          const CallContext& call) const {
  return AwaitResponse<v1::DecodeResponse>(call, [&](v1::DecodeResponse* response, StatusCallback done) {
    DecodeAsync(request, call, response, std::move(done));
  });
}

absl::Status GenerativeCore::StartDecode(const v1::DecodeRequest& request, const CallContext& call,
                                         v1::DecodeResponse* response, StatusCallback& done) const {
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<const ServableModel> servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.latent().rows(), "latent.rows"));
  GENAILAB_ASSIGN_OR_RETURN(DenseMatrix z, MatrixFromProto(request.latent(), "latent"));
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
  const int64_t rows = z.rows;
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, ToCovariateCodes(manifest, request.covariates(), rows, {}));
  const RowFunction decode = [](const GenerativeModel& model, const RowInput& in) -> absl::StatusOr<RowOutput> {
    GENAILAB_ASSIGN_OR_RETURN(DenseMatrix expression, model.Decode(in.x, in.codes, in.library_size));
    return RowOutput{std::move(expression), DenseMatrix()};
  };
  // Requests with and without library sizes do not share a batch (the model takes all or none).
  const std::string key = library_size.empty() ? "decode" : "decode/library_size";
  const ServableModel& model = *servable;
  RunRowsAsync(model, key, RowInput{std::move(z), std::move(codes), std::move(library_size)}, decode, call,
               [servable = std::move(servable), rows, response, omit_names = request.omit_column_names(),
                done = std::move(done)](absl::StatusOr<RowOutput> expression) {
                 done([&]() -> absl::Status {
                   GENAILAB_RETURN_IF_ERROR(expression.status());
                   const std::vector<std::string>& genes = servable->model->manifest().gene_names;
                   GENAILAB_RETURN_IF_ERROR(CheckModelOutput(expression->first, rows,
                                                             static_cast<int64_t>(genes.size()), "expression"));
                   SetModelSpec(*servable, response->mutable_model());
                   MatrixToProto(expression->first, ResponseColumnNames(omit_names, genes), /*sparse=*/false,
                                 response->mutable_expression());
                   return absl::OkStatus();
                 }());
               });
  return absl::OkStatus();
}

absl::StatusOr<GenerativeCore::GeneratePlan> GenerativeCore::PlanGenerate(const v1::GenerateRequest& request,
                                                                          int64_t max_cells) const {
  GeneratePlan plan;
  GENAILAB_ASSIGN_OR_RETURN(plan.servable, ResolveModel(request.model()));
  const GenerativeModel& model = *plan.servable->model;
  const ModelManifest& manifest = model.manifest();
  if (request.groups_size() == 0) return absl::InvalidArgumentError("groups: at least one group is required");
  if (!std::isfinite(request.library_size()) || request.library_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "library_size must be 0 (training median) or positive, got ", request.library_size()));
  }
  const std::vector<CovariateSpec>& specs = NetworkCovariates(manifest);
  int64_t total = 0;
  CovariateCodes codes(specs.size());
  for (int g = 0; g < request.groups_size(); ++g) {
    const v1::GenerationGroup& group = request.groups(g);
    const std::string field = absl::StrCat("groups[", g, "]");
    const int64_t n = group.n_cells();
    if (n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".n_cells must be positive, got ", n));
    }
    total += n;
    if (total > max_cells) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".n_cells: the groups ask for ", total,
                                                     " cells so far, over the limit of ", max_cells,
                                                     max_cells == options_.max_cells_per_request
                                                         ? " (max_cells_per_request)"
                                                         : " (max_stream_cells)"));
    }
    if (specs.empty()) continue;
    const std::map<std::string, std::string> values(group.covariates().begin(), group.covariates().end());
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<int64_t> group_codes,
                              ResolveCovariateValues(specs, values, absl::StrCat(field, ".covariates")));
    for (size_t k = 0; k < specs.size(); ++k) {
      codes[k].insert(codes[k].end(), static_cast<size_t>(n), group_codes[k]);
      auto& column = plan.cell_covariates[specs[k].name];
      column.insert(column.end(), static_cast<size_t>(n), values.at(specs[k].name));
    }
  }
  const bool negative_binomial = IsNegativeBinomial(manifest);
  if (request.sample_counts() && !negative_binomial) {
    return absl::InvalidArgumentError("sample_counts: only negative-binomial models sample counts");
  }
  const std::vector<std::string> samplers = model.Samplers();
  const v1::SamplerOptions& sampler = request.sampler();
  if (!sampler.sampler().empty() && !samplers.empty() &&
      std::find(samplers.begin(), samplers.end(), sampler.sampler()) == samplers.end()) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.sampler: unknown sampler '", sampler.sampler(),
                                                   "'; allowed: ", absl::StrJoin(samplers, ", ")));
  }
  if (sampler.steps() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.steps must not be negative, got ", sampler.steps()));
  }
  plan.sampler.sampler = sampler.sampler();
  plan.sampler.steps = sampler.steps();
  plan.sampler.eta = sampler.eta();
  plan.sampler.guidance_scale = sampler.guidance_scale();
  plan.args.n = total;
  plan.args.codes = std::move(codes);
  plan.args.seed = request.seed();
  plan.args.library_size = negative_binomial ? request.library_size() : 0.0f;
  plan.args.sample_counts = request.sample_counts();
  plan.omit_column_names = request.omit_column_names();
  return plan;
}

void GenerativeCore::GenerateBlocksAsync(const GeneratePlan& plan, int64_t first_block, int64_t end_block,
                                         const CallContext& call, Callback<DenseMatrix> done) const {
  const bool iterative = !plan.servable->model->Samplers().empty();
  const int64_t genes = static_cast<int64_t>(plan.servable->model->manifest().gene_names.size());
  const int64_t total = plan.args.n;
  // The rows block `block` must have.
  const auto block_rows = [total](int64_t block) {
    return std::min(total - block * kGenerateBlockCells, kGenerateBlockCells);
  };
  // Submits one block; a refused task is failed here, which completes its completion.
  const auto submit = [&](int64_t block, std::shared_ptr<RequestCompletion<DenseMatrix>> completion) {
    const int64_t begin = block * kGenerateBlockCells;
    const int64_t end = begin + block_rows(block);
    GenerateArgs args;
    args.n = end - begin;
    args.codes = SliceCodes(plan.args.codes, begin, end);
    args.seed = BlockSeed(plan.args.seed, block);
    args.library_size = plan.args.library_size;
    args.sample_counts = plan.args.sample_counts;
    std::unique_ptr<BatchTask> task;
    if (iterative) {
      task = std::make_unique<GenerationSessionTask>(std::move(args), plan.sampler, std::move(completion));
    } else {
      task = std::make_unique<GenerateTask>(std::move(args), std::move(completion));
    }
    task->deadline = call.deadline;
    task->is_cancelled = call.is_cancelled;
    const absl::Status status = iterative ? plan.servable->SubmitSession(task) : plan.servable->Submit(task);
    if (!status.ok()) task->Fail(status);
    return status.ok();
  };
  if (end_block - first_block == 1) {
    submit(first_block, std::make_shared<RequestCompletion<DenseMatrix>>(
                            [rows = block_rows(first_block), genes, done = std::move(done)](
                                absl::StatusOr<DenseMatrix> cells) {
                              if (cells.ok()) {
                                const absl::Status checked = CheckModelOutput(*cells, rows, genes, "cells");
                                if (!checked.ok()) cells = checked;
                              }
                              done(std::move(cells));
                            }));
    return;
  }
  std::vector<int64_t> rows;
  for (int64_t block = first_block; block < end_block; ++block) rows.push_back(block_rows(block));
  auto join = std::make_shared<CompletionJoin<DenseMatrix>>(
      rows.size(), [rows, genes, done = std::move(done)](absl::StatusOr<std::vector<DenseMatrix>> blocks) {
        if (!blocks.ok()) return done(blocks.status());
        DenseMatrix cells;
        for (size_t i = 0; i < blocks->size(); ++i) {
          const absl::Status checked = CheckModelOutput((*blocks)[i], rows[i], genes, "cells");
          if (!checked.ok()) return done(checked);
          AppendRows((*blocks)[i], &cells);
        }
        done(std::move(cells));
      });
  for (int64_t block = first_block; block < end_block; ++block) {
    // A refused block fails the whole join; the blocks already submitted run and are dropped.
    if (!submit(block, join->Part(static_cast<size_t>(block - first_block)))) return;
  }
}

void GenerativeCore::GenerateAsync(const v1::GenerateRequest& request, const CallContext& call,
                                   v1::GenerateResponse* response, StatusCallback done) const {
  absl::StatusOr<GeneratePlan> planned = PlanGenerate(request, options_.max_cells_per_request);
  if (!planned.ok()) return done(planned.status());
  auto plan = std::make_shared<const GeneratePlan>(std::move(planned).value());
  const int64_t blocks = (plan->args.n + kGenerateBlockCells - 1) / kGenerateBlockCells;
  const GeneratePlan& blocks_plan = *plan;
  GenerateBlocksAsync(blocks_plan, 0, blocks, call,
                      [plan = std::move(plan), response, done = std::move(done)](absl::StatusOr<DenseMatrix> cells) {
                        if (!cells.ok()) return done(cells.status());
                        SetModelSpec(*plan->servable, response->mutable_model());
                        MatrixToProto(*cells,
                                      ResponseColumnNames(plan->omit_column_names,
                                                          plan->servable->model->manifest().gene_names),
                                      /*sparse=*/false,
                                      response->mutable_cells());
                        CovariatesToProto(plan->cell_covariates, response->mutable_covariates());
                        done(absl::OkStatus());
                      });
}

absl::StatusOr<v1::GenerateResponse> GenerativeCore::Generate(const v1::GenerateRequest& request,
                                                              const CallContext& call) const {
  return AwaitResponse<v1::GenerateResponse>(call, [&](v1::GenerateResponse* response, StatusCallback done) {
    GenerateAsync(request, call, response, std::move(done));
  });
}

absl::StatusOr<std::shared_ptr<GenerationStream>> GenerativeCore::StartGenerateStream(
    const v1::GenerateStreamRequest& request, const CallContext& call) const {
  if (request.chunk_cells() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_cells must be 0 (server default) or positive, got ", request.chunk_cells()));
  }
  GENAILAB_ASSIGN_OR_RETURN(GeneratePlan planned, PlanGenerate(request.request(), options_.max_stream_cells));
  auto plan = std::make_shared<const GeneratePlan>(std::move(planned));
  GenerationStream::Options options;
  options.blocks = (plan->args.n + kGenerateBlockCells - 1) / kGenerateBlockCells;
  options.chunk_cells = request.chunk_cells() > 0 ? request.chunk_cells() : options_.default_chunk_cells;
  // One block per model instance, and at least two, so that one is made while the previous is written.
  options.window = std::max<int64_t>(2, static_cast<int64_t>(plan->servable->instances.size()));
  // Each block holds the plan (and so the servable) until its cells are in.
  auto source = [this, plan, call](int64_t block, Callback<DenseMatrix> done) {
    GenerateBlocksAsync(*plan, block, block + 1, call, std::move(done));
  };
  auto builder = [plan](const DenseMatrix& cells, int64_t first_cell, v1::GenerateResponse* message) {
    message->Clear();
    SetModelSpec(*plan->servable, message->mutable_model());
    MatrixToProto(cells,
                  ResponseColumnNames(plan->omit_column_names, plan->servable->model->manifest().gene_names),
                  /*sparse=*/false, message->mutable_cells());
    std::map<std::string, std::vector<std::string>> covariates;
    for (const auto& [name, values] : plan->cell_covariates) {
      covariates[name].assign(values.begin() + first_cell, values.begin() + first_cell + cells.rows);
    }
    CovariatesToProto(covariates, message->mutable_covariates());
  };
  return GenerationStream::Create(options, std::move(source), std::move(builder));
}

absl::Status GenerativeCore::GenerateStream(const v1::GenerateStreamRequest& request, const CallContext& call,
                                            const StreamWriter& write) const {
  GENAILAB_ASSIGN_OR_RETURN(const std::shared_ptr<GenerationStream> stream, StartGenerateStream(request, call));
  for (;;) {
    // Owned with the callback, since a Wait that gives up leaves the Next outstanding.
    auto message = std::make_shared<v1::GenerateResponse>();
    auto completion = std::make_shared<RequestCompletion<bool>>();
    stream->Next(message.get(),
                 [completion, message](absl::StatusOr<bool> more) { completion->Set(std::move(more)); });
    GENAILAB_ASSIGN_OR_RETURN(const bool more, completion->Wait(call));
    if (!more) return absl::OkStatus();
    if (!write(*message)) return absl::CancelledError("the client stopped reading the stream");
  }
}

void GenerativeCore::PredictPerturbationAsync(const v1::PredictPerturbationRequest& request, const CallContext& call,
                                 v1::PredictPerturbationResponse* response, StatusCallback done) const {
  const absl::Status status = StartPredictPerturbation(request, call, response, done);
  if (!status.ok()) done(status);
}

absl::StatusOr<v1::PredictPerturbationResponse> GenerativeCore::PredictPerturbation(const v1::PredictPerturbationRequest& request,
                                                          const CallContext& call) const {
  return AwaitResponse<v1::PredictPerturbationResponse>(call, [&](v1::PredictPerturbationResponse* response, StatusCallback done) {
    PredictPerturbationAsync(request, call, response, std::move(done));
  });
}

absl::Status GenerativeCore::StartPredictPerturbation(const v1::PredictPerturbationRequest& request,
                                                      const CallContext& call,
                                                      v1::PredictPerturbationResponse* response,
                                                      StatusCallback& done) const {
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<const ServableModel> servable, ResolveModel(request.model()));
  const ModelManifest& manifest = servable->model->manifest();
  if (manifest.condition_key.empty()) {
    return absl::UnimplementedError(absl::StrCat("model '", servable->name,
                                                 "' has no condition_key and does not support PredictPerturbation"));
  }
  const std::vector<std::string> conditions = Conditions(manifest);
  GENAILAB_RETURN_IF_ERROR(CheckCondition(conditions, request.source_condition(), "source_condition"));
  GENAILAB_RETURN_IF_ERROR(CheckCondition(conditions, request.target_condition(), "target_condition"));
  GENAILAB_RETURN_IF_ERROR(CheckCellCount(request.cells().rows(), "cells.rows"));
  GENAILAB_ASSIGN_OR_RETURN(ModelInput input, ToModelInput(manifest, request.cells(), request.gene_matching()));
  std::map<std::string, std::string> overrides;
  if (manifest.CovariateIndex(manifest.condition_key) >= 0) {
    overrides[manifest.condition_key] = request.source_condition();
  }
  // The condition column is optional in the request: drop it and set it from source_condition.
  google::protobuf::RepeatedPtrField<v1::CovariateColumn> covariates;
  for (const v1::CovariateColumn& column : request.covariates()) {
    if (column.name() != manifest.condition_key) *covariates.Add() = column;
  }
  const int64_t rows = input.x.rows;
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, ToCovariateCodes(manifest, covariates, rows, overrides));
  const PerturbationMethod method = ResolveMethod(request.method(), manifest);
  // Checks the model's cells and builds the response, on the scheduler's thread.
  Callback<DenseMatrix> respond = [servable, rows, method, response, omit_names = request.omit_column_names(),
                                   done = std::move(done)](absl::StatusOr<DenseMatrix> predicted) {
    done([&]() -> absl::Status {
      GENAILAB_RETURN_IF_ERROR(predicted.status());
      const ModelManifest& manifest = servable->model->manifest();
      GENAILAB_RETURN_IF_ERROR(
          CheckModelOutput(*predicted, rows, static_cast<int64_t>(manifest.gene_names.size()), "cells"));
      SetModelSpec(*servable, response->mutable_model());
      MatrixToProto(*predicted, ResponseColumnNames(omit_names, manifest.gene_names), /*sparse=*/false,
                    response->mutable_cells());
      response->set_method(PerturbationMethodToProto(method));
      response->set_condition_key(manifest.condition_key);
      return absl::OkStatus();
    }());
  };
  if (!servable->model->Samplers().empty()) {
    PerturbationArgs args;
    args.x = std::move(input.x);
    args.codes = std::move(codes);
    args.source = request.source_condition();
    args.target = request.target_condition();
    args.seed = request.seed();
    args.sampler.sampler = request.sampler().sampler();
    args.sampler.steps = request.sampler().steps();
    args.sampler.eta = request.sampler().eta();
    args.sampler.guidance_scale = request.sampler().guidance_scale();
    args.library_size = std::move(input.library_size);
    std::unique_ptr<BatchTask> task = std::make_unique<PerturbationSessionTask>(
        std::move(args), std::make_shared<RequestCompletion<DenseMatrix>>(std::move(respond)));
    task->deadline = call.deadline;
    task->is_cancelled = call.is_cancelled;
    const absl::Status status = servable->SubmitSession(task);
    if (!status.ok()) task->Fail(status);
    return absl::OkStatus();
  }
  const std::string source = request.source_condition();
  const std::string target = request.target_condition();
  const RowFunction predict = [source, target, method](const GenerativeModel& model,
                                                       const RowInput& in) -> absl::StatusOr<RowOutput> {
    GENAILAB_ASSIGN_OR_RETURN(DenseMatrix cells,
                              model.PredictPerturbation(in.x, in.codes, source, target, method, in.library_size));
    return RowOutput{std::move(cells), DenseMatrix()};
  };
  // Only requests with the same conditions and method share a batch.
  const std::string key = absl::StrCat("perturb/", source.size(), ":", source, "/", target.size(), ":", target,
                                       "/", static_cast<int>(method), input.library_size.empty() ? "" : "/nb");
  RunRowsAsync(*servable, key, RowInput{std::move(input.x), std::move(codes), std::move(input.library_size)},
               predict, call, [respond = std::move(respond)](absl::StatusOr<RowOutput> output) {
                 if (!output.ok()) return respond(output.status());
                 respond(std::move(output->first));
               });
  return absl::OkStatus();
}

}  // namespace genailab
