#include "client/genailab_client.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc/unary_call.h"
#include "common/security/channel_security.h"
#include "common/status_macros.h"
#include "data/matrix_codec.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace genailab {

struct GenailabClient::Stub {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::GenerativeService::Stub> stub;
};

namespace {

void ModelRefToProto(const ModelRef& model, v1::ModelSpec* spec) {
  spec->set_name(model.name);
  spec->set_version(model.version);
}

void GeneMatchingToProto(const GeneMatchingOptions& options, v1::GeneMatching* proto) {
  proto->set_zero_fill_missing(options.zero_fill_missing);
  proto->set_ignore_unknown(options.ignore_unknown);
}

// The `call` of GenailabClient::CallNamed for one unary RPC: `method` with `*request`, whose
// omit_column_names is set as asked.
template <typename Request, typename Response>
auto NamedCall(v1::GenerativeService::Stub* stub,
               grpc::Status (v1::GenerativeService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
               Request* request, absl::Duration timeout) {
  return [stub, method, request, timeout](bool omit_column_names) {
    request->set_omit_column_names(omit_column_names);
    return UnaryCall<Request, Response>(stub, method, *request, timeout);
  };
}

// Formats a numeric obs value the way pandas would print an integer-valued float: "3", not "3.000000".
std::string NumericToString(double value) {
  if (value == static_cast<double>(static_cast<int64_t>(value))) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrCat(value);
}

// The obs columns named in `keys` as name -> values. NOT_FOUND (from AnnData::ObsColumn, naming the key
// and the existing columns) for a key in neither obs nor obs_numeric.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> CovariateColumns(
    const AnnData& cells, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<std::string>> columns;
  for (const std::string& key : keys) {
    auto numeric = cells.obs_numeric.find(key);
    if (cells.obs.count(key) == 0 && numeric != cells.obs_numeric.end()) {
      std::vector<std::string>& values = columns[key];
      values.reserve(numeric->second.size());
      for (double v : numeric->second) values.push_back(NumericToString(v));
      continue;
    }
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, cells.ObsColumn(key));
    columns[key] = *column;
  }
  return columns;
}

// A matrix from a response: decoded, with `expected_rows` rows (-1 = any) and, when gene_names is set,
// one gene name per column. INTERNAL naming `field` when the server broke those rules.
absl::StatusOr<DenseMatrix> MatrixFromResponse(const v1::Matrix& proto, const std::string& field,
                                                   int64_t expected_rows,
                                                   std::vector<std::string>* gene_names) {
  absl::StatusOr<DenseMatrix> matrix = MatrixFromProto(proto, field);
  if (!matrix.ok()) {
    return absl::InternalError(absl::StrCat("server response: ", matrix.status().message()));
  }
  if (expected_rows >= 0 && matrix->rows != expected_rows) {
    return absl::InternalError(absl::StrCat("server response field '", field, "' has ", matrix->rows,
                                            " rows, expected ", expected_rows));
  }
  if (gene_names != nullptr) {
    *gene_names = ColumnNames(proto);
    if (static_cast<int64_t>(gene_names->size()) != matrix->cols) {
      return absl::InternalError(absl::StrCat("server response field '", field, "' names ",
                                              gene_names->size(), " genes for ", matrix->cols,
                                              " columns"));
    }
  }
  return matrix;
}

absl::Status ValidateCells(const AnnData& cells) {
  GENAILAB_RETURN_IF_ERROR(cells.Validate());
  if (static_cast<int64_t>(cells.var_names.size()) != cells.x.cols) {
    return absl::InvalidArgumentError(absl::StrCat("cells: var_names has ", cells.var_names.size(),
                                                   " entries for ", cells.x.cols, " genes"));
  }
  return absl::OkStatus();
}

void SamplerOptionsToProto(const SamplerOptions& sampler, v1::SamplerOptions* proto) {
  proto->set_sampler(sampler.sampler);
  proto->set_steps(sampler.steps);
  proto->set_eta(sampler.eta);
  proto->set_guidance_scale(sampler.guidance_scale);
}

// Plaintext, or TLS (server verified against tls_ca_file) with an optional client certificate and an
// optional bearer token (common/security/channel_security.h). Errors as GenailabClient::Create documents.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const GenailabClient::Options& options) {
  ChannelSecurityOptions security;
  security.tls_ca_file = options.tls_ca_file;
  security.tls_cert_file = options.tls_cert_file;
  security.tls_key_file = options.tls_key_file;
  security.token_file = options.token_file;
  return MakeChannelCredentials(security);
}

}  // namespace

absl::StatusOr<PerturbationMethod> ParsePerturbationMethod(const std::string& name) {
  if (name.empty() || name == "default") return PerturbationMethod::kDefault;
  if (name == "latent_arithmetic") return PerturbationMethod::kLatentArithmetic;
  if (name == "counterfactual") return PerturbationMethod::kCounterfactual;
  return absl::InvalidArgumentError(absl::StrCat(
      "method: unknown perturbation method '", name,
      "' (expected default, latent_arithmetic or counterfactual)"));
}

absl::StatusOr<std::unique_ptr<GenailabClient>> GenailabClient::Create(const Options& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target: empty server address");
  if (options.max_message_bytes <= 0 || options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes: must be in (0, 2^31), got ",
                                                   options.max_message_bytes));
  }
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                            ChannelCredentials(options));
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  arguments.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, std::move(credentials), arguments);
  return Create(std::move(channel), options);
}

absl::StatusOr<std::unique_ptr<GenailabClient>> GenailabClient::Create(
    std::shared_ptr<grpc::Channel> channel, const Options& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("channel: null");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout: must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  if (!(options.csr_max_density >= 0.0 && options.csr_max_density <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("csr_max_density: must be in [0, 1], got ", options.csr_max_density));
  }
  if (options.stream_above_cells < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream_above_cells: must be >= 0, got ", options.stream_above_cells));
  }
  return std::unique_ptr<GenailabClient>(new GenailabClient(std::move(channel), options));
}

GenailabClient::GenailabClient(std::shared_ptr<grpc::Channel> channel, const Options& options)
    : options_(options), stub_(std::make_unique<Stub>()) {
  stub_->stub = v1::GenerativeService::NewStub(channel);
  stub_->channel = std::move(channel);
}

GenailabClient::~GenailabClient() = default;

void GenailabClient::CellsToProto(const AnnData& cells, v1::Matrix* proto) const {
  bool sparse = options_.encoding == MatrixEncoding::kCsr;
  if (options_.encoding == MatrixEncoding::kAuto && !cells.x.values.empty()) {
    size_t nonzero = 0;
    for (float v : cells.x.values) nonzero += v != 0.0f;
    sparse = static_cast<double>(nonzero) <
             options_.csr_max_density * static_cast<double>(cells.x.values.size());
  }
  MatrixToProto(cells.x, cells.var_names, sparse, proto);
}

absl::StatusOr<std::vector<v1::ModelInfo>> GenailabClient::ListModels() const {
  GENAILAB_ASSIGN_OR_RETURN(
      v1::ListModelsResponse response,
      (UnaryCall<v1::ListModelsRequest, v1::ListModelsResponse>(
          stub_->stub.get(), &v1::GenerativeService::Stub::ListModels, v1::ListModelsRequest(),
          options_.timeout)));
  return std::vector<v1::ModelInfo>(response.models().begin(), response.models().end());
}

absl::StatusOr<v1::ModelInfo> GenailabClient::GetModel(const std::string& name, int64_t version) const {
  v1::GetModelRequest request;
  ModelRefToProto(ModelRef{name, version}, request.mutable_model());
  GENAILAB_ASSIGN_OR_RETURN(v1::GetModelResponse response,
                            (UnaryCall<v1::GetModelRequest, v1::GetModelResponse>(
                                stub_->stub.get(), &v1::GenerativeService::Stub::GetModel, request,
                                options_.timeout)));
  return std::move(*response.mutable_model());
}

absl::StatusOr<std::vector<std::string>> GenailabClient::ColumnGenes(const v1::Matrix& proto,
                                                                     const std::string& model,
                                                                     int64_t version) const {
  std::vector<std::string> genes = ColumnNames(proto);
  if (genes.empty() && proto.cols() > 0) {
    const std::pair<std::string, int64_t> key(model, version);
    bool cached = false;
    {
      absl::MutexLock lock(&genes_mu_);
      auto it = genes_.find(key);
      if (it != genes_.end()) {
        genes = it->second;
        cached = true;
      }
    }
    if (!cached) {
      GENAILAB_ASSIGN_OR_RETURN(const v1::ModelInfo info, GetModel(model, version));
      genes.assign(info.gene_names().begin(), info.gene_names().end());
      absl::MutexLock lock(&genes_mu_);
      genes_.emplace(key, genes);
    }
  }
  if (static_cast<int64_t>(genes.size()) != proto.cols()) {
    return absl::InternalError(absl::StrCat("server response: ", genes.size(), " gene names for ", proto.cols(),
                                            " columns (model '", model, "' version ", version, ")"));
  }
  return genes;
}

template <typename Response, typename Call>
absl::StatusOr<Response> GenailabClient::CallNamed(const Call& call, const std::string& model,
                                                   const v1::Matrix& (Response::*matrix)() const,
                                                   std::vector<std::string>* genes) const {
  GENAILAB_ASSIGN_OR_RETURN(Response response, call(/*omit_column_names=*/true));
  absl::StatusOr<std::vector<std::string>> named = ColumnGenes((response.*matrix)(), model, response.model().version());
  if (absl::IsNotFound(named.status())) {
    GENAILAB_ASSIGN_OR_RETURN(response, call(/*omit_column_names=*/false));
    named = ColumnGenes((response.*matrix)(), model, response.model().version());
  }
  if (!named.ok()) return named.status();
  *genes = std::move(named).value();
  return response;
}

absl::StatusOr<EncodeResult> GenailabClient::Encode(const ModelRef& model, const AnnData& cells,
                                                    const std::vector<std::string>& covariate_keys,
                                                    const GeneMatchingOptions& gene_matching) const {
  GENAILAB_RETURN_IF_ERROR(ValidateCells(cells));
  GENAILAB_ASSIGN_OR_RETURN(auto covariates, CovariateColumns(cells, covariate_keys));
  v1::EncodeRequest request;
  ModelRefToProto(model, request.mutable_model());
  CellsToProto(cells, request.mutable_cells());
  CovariatesToProto(covariates, request.mutable_covariates());
  GeneMatchingToProto(gene_matching, request.mutable_gene_matching());
  request.set_omit_column_names(true);  // the latent columns are z0..z{d-1}; nothing reads their names
  GENAILAB_ASSIGN_OR_RETURN(v1::EncodeResponse response,
                            (UnaryCall<v1::EncodeRequest, v1::EncodeResponse>(
                                stub_->stub.get(), &v1::GenerativeService::Stub::Encode, request,
                                options_.timeout)));
  EncodeResult result;
  GENAILAB_ASSIGN_OR_RETURN(
      result.mean, MatrixFromResponse(response.latent_mean(), "latent_mean", cells.n_obs(), nullptr));
  GENAILAB_ASSIGN_OR_RETURN(result.variance,
                            MatrixFromResponse(response.latent_variance(), "latent_variance",
                                                   cells.n_obs(), nullptr));
  if (result.variance.cols != result.mean.cols) {
    return absl::InternalError(absl::StrCat("server response: latent_variance has ",
                                            result.variance.cols, " columns, latent_mean ",
                                            result.mean.cols));
  }
  result.version = response.model().version();
  return result;
}

absl::StatusOr<DecodeResult> GenailabClient::Decode(
    const ModelRef& model, const DenseMatrix& latent,
    const std::map<std::string, std::vector<std::string>>& covariates,
    const std::vector<float>& library_sizes) const {
  GENAILAB_RETURN_IF_ERROR(latent.Validate("latent"));
  for (const auto& [name, values] : covariates) {
    if (static_cast<int64_t>(values.size()) != latent.rows) {
      return absl::InvalidArgumentError(absl::StrCat("covariates: column '", name, "' has ",
                                                     values.size(), " values for ", latent.rows,
                                                     " cells"));
    }
  }
  if (!library_sizes.empty() && static_cast<int64_t>(library_sizes.size()) != latent.rows) {
    return absl::InvalidArgumentError(absl::StrCat("library_sizes: ", library_sizes.size(),
                                                   " values for ", latent.rows, " cells"));
  }
  v1::DecodeRequest request;
  ModelRefToProto(model, request.mutable_model());
  MatrixToProto(latent, {}, /*sparse=*/false, request.mutable_latent());
  CovariatesToProto(covariates, request.mutable_covariates());
  request.mutable_library_size()->Add(library_sizes.begin(), library_sizes.end());
  DecodeResult result;
  GENAILAB_ASSIGN_OR_RETURN(
      v1::DecodeResponse response,
      CallNamed(NamedCall(stub_->stub.get(), &v1::GenerativeService::Stub::Decode, &request, options_.timeout),
                model.name, &v1::DecodeResponse::expression, &result.gene_names));
  GENAILAB_ASSIGN_OR_RETURN(result.expression,
                            MatrixFromResponse(response.expression(), "expression", latent.rows, nullptr));
  result.version = response.model().version();
  return result;
}

namespace {

// A 1 x n (or 2 x n for two rows) latent matrix proto.
void LatentRowsToProto(const std::vector<std::vector<float>>& rows, v1::Matrix* proto) {
  DenseMatrix matrix(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.front().size()));
  for (size_t r = 0; r < rows.size(); ++r) std::copy(rows[r].begin(), rows[r].end(), matrix.row(r));
  MatrixToProto(matrix, {}, /*sparse=*/false, proto);
}

absl::Status CheckSteps(int steps) {
  if (steps < 2) return absl::InvalidArgumentError(absl::StrCat("steps: must be >= 2, got ", steps));
  return absl::OkStatus();
}

template <typename Response>
absl::StatusOr<LatentPathResult> PathFromResponse(const Response& response, int steps,
                                                  const google::protobuf::RepeatedField<float>& positions) {
  LatentPathResult result;
  GENAILAB_ASSIGN_OR_RETURN(result.latents, MatrixFromResponse(response.latents(), "latents", steps, nullptr));
  GENAILAB_ASSIGN_OR_RETURN(result.expression,
                            MatrixFromResponse(response.expression(), "expression", steps, &result.gene_names));
  if (positions.size() != steps) {
    return absl::InternalError(absl::StrCat("server response: ", positions.size(), " positions for ", steps,
                                            " points"));
  }
  result.positions.assign(positions.begin(), positions.end());
  result.version = response.model().version();
  return result;
}

}  // namespace

absl::StatusOr<LatentPathResult> GenailabClient::InterpolateLatents(
    const ModelRef& model, const std::vector<float>& from, const std::vector<float>& to, int steps,
    const std::map<std::string, std::string>& covariates, float library_size) const {
  GENAILAB_RETURN_IF_ERROR(CheckSteps(steps));
  if (from.empty() || from.size() != to.size()) {
    return absl::InvalidArgumentError(absl::StrCat("endpoints: latents of ", from.size(), " and ", to.size(),
                                                   " values; they must have the same, non-zero size"));
  }
  v1::InterpolateRequest request;
  ModelRefToProto(model, request.mutable_model());
  request.set_steps(steps);
  request.mutable_covariates()->insert(covariates.begin(), covariates.end());
  request.set_library_size(library_size);
  LatentRowsToProto({from, to}, request.mutable_latent_path()->mutable_endpoints());
  GENAILAB_ASSIGN_OR_RETURN(v1::InterpolateResponse response,
                            (UnaryCall<v1::InterpolateRequest, v1::InterpolateResponse>(
                                stub_->stub.get(), &v1::GenerativeService::Stub::Interpolate, request,
                                options_.timeout)));
  return PathFromResponse(response, steps, response.fractions());
}

absl::StatusOr<LatentPathResult> GenailabClient::InterpolateCovariate(
    const ModelRef& model, const std::string& covariate, const std::string& from_value,
    const std::string& to_value, int steps, const std::vector<float>& latent,
    const std::map<std::string, std::string>& covariates, float library_size) const {
  GENAILAB_RETURN_IF_ERROR(CheckSteps(steps));
  v1::InterpolateRequest request;
  ModelRefToProto(model, request.mutable_model());
  request.set_steps(steps);
  request.mutable_covariates()->insert(covariates.begin(), covariates.end());
  request.set_library_size(library_size);
  v1::CovariatePath* path = request.mutable_covariate_path();
  path->set_covariate(covariate);
  path->set_from_value(from_value);
  path->set_to_value(to_value);
  if (!latent.empty()) LatentRowsToProto({latent}, path->mutable_latent());
  GENAILAB_ASSIGN_OR_RETURN(v1::InterpolateResponse response,
                            (UnaryCall<v1::InterpolateRequest, v1::InterpolateResponse>(
                                stub_->stub.get(), &v1::GenerativeService::Stub::Interpolate, request,
                                options_.timeout)));
  return PathFromResponse(response, steps, response.fractions());
}

absl::StatusOr<LatentPathResult> GenailabClient::TraverseLatent(
    const ModelRef& model, int64_t axis, float start, float end, int steps, const std::vector<float>& latent,
    const std::map<std::string, std::string>& covariates, float library_size) const {
  GENAILAB_RETURN_IF_ERROR(CheckSteps(steps));
  v1::TraverseLatentRequest request;
  ModelRefToProto(model, request.mutable_model());
  request.set_axis(axis);
  request.set_start(start);
  request.set_end(end);
  request.set_steps(steps);
  if (!latent.empty()) LatentRowsToProto({latent}, request.mutable_latent());
  request.mutable_covariates()->insert(covariates.begin(), covariates.end());
  request.set_library_size(library_size);
  GENAILAB_ASSIGN_OR_RETURN(v1::TraverseLatentResponse response,
                            (UnaryCall<v1::TraverseLatentRequest, v1::TraverseLatentResponse>(
                                stub_->stub.get(), &v1::GenerativeService::Stub::TraverseLatent, request,
                                options_.timeout)));
  return PathFromResponse(response, steps, response.values());
}

absl::StatusOr<AnnData> GenailabClient::Generate(const ModelRef& model,
                                                 const std::vector<CellGroup>& groups, uint64_t seed,
                                                 float library_size, bool sample_counts,
                                                 const SamplerOptions& sampler) const {
  if (groups.empty()) return absl::InvalidArgumentError("groups: at least one group is required");
  v1::GenerateRequest request;
  ModelRefToProto(model, request.mutable_model());
  int64_t total_cells = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].n_cells < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("groups[", i, "].n_cells: must be >= 0, got ", groups[i].n_cells));
    }
    total_cells += groups[i].n_cells;
    v1::GenerationGroup* group = request.add_groups();
    group->mutable_covariates()->insert(groups[i].covariates.begin(), groups[i].covariates.end());
    group->set_n_cells(groups[i].n_cells);
  }
  request.set_seed(seed);
  request.set_library_size(library_size);
  request.set_sample_counts(sample_counts);
  SamplerOptionsToProto(sampler, request.mutable_sampler());
  AnnData generated;
  if (total_cells > options_.stream_above_cells) {
    GENAILAB_RETURN_IF_ERROR(GenerateByStream(request, &generated));
  } else {
    std::vector<std::string> genes;
    GENAILAB_ASSIGN_OR_RETURN(
        v1::GenerateResponse response,
        CallNamed(NamedCall(stub_->stub.get(), &v1::GenerativeService::Stub::Generate, &request, options_.timeout),
                  model.name, &v1::GenerateResponse::cells, &genes));
    GENAILAB_RETURN_IF_ERROR(AppendGenerated(response, &genes, &generated));
  }
  if (generated.x.rows != total_cells) {
    return absl::InternalError(
        absl::StrCat("server response field 'cells' has ", generated.x.rows, " rows, expected ", total_cells));
  }
  generated.obs_names.reserve(static_cast<size_t>(total_cells));
  for (int64_t i = 0; i < total_cells; ++i) generated.obs_names.push_back(absl::StrCat("gen_", i));
  return generated;
}

absl::Status GenailabClient::AppendGenerated(const v1::GenerateResponse& response,
                                             const std::vector<std::string>* known_genes, AnnData* generated) {
  std::vector<std::string> genes;
  GENAILAB_ASSIGN_OR_RETURN(
      const DenseMatrix cells,
      MatrixFromResponse(response.cells(), "cells", -1, known_genes == nullptr ? &genes : nullptr));
  if (known_genes != nullptr) genes = *known_genes;
  absl::StatusOr<std::map<std::string, std::vector<std::string>>> covariates =
      CovariatesFromProto(response.covariates(), cells.rows, "covariates");
  if (!covariates.ok()) {
    return absl::InternalError(absl::StrCat("server response: ", covariates.status().message()));
  }
  if (generated->x.rows == 0 && generated->x.cols == 0) {
    generated->var_names = std::move(genes);
    generated->x.cols = cells.cols;
    for (const auto& [name, values] : *covariates) generated->obs[name];  // the columns, empty
  } else if (genes != generated->var_names) {
    return absl::InternalError("server response: a stream message names other genes than the first");
  }
  for (auto& [name, values] : *covariates) {
    auto column = generated->obs.find(name);
    if (column == generated->obs.end()) {
      return absl::InternalError(absl::StrCat("server response: covariate '", name, "' missing from earlier messages"));
    }
    column->second.insert(column->second.end(), values.begin(), values.end());
  }
  for (const auto& [name, values] : generated->obs) {
    if (static_cast<int64_t>(values.size()) != generated->x.rows + cells.rows) {
      return absl::InternalError(absl::StrCat("server response: covariate '", name, "' has ", values.size(),
                                              " values for ", generated->x.rows + cells.rows, " cells"));
    }
  }
  generated->x.values.insert(generated->x.values.end(), cells.values.begin(), cells.values.end());
  generated->x.rows += cells.rows;
  return absl::OkStatus();
}

absl::Status GenailabClient::GenerateByStream(const v1::GenerateRequest& request, AnnData* generated) const {
  v1::GenerateStreamRequest stream_request;
  *stream_request.mutable_request() = request;
  // Stream messages are thousands of cells: their names cost little, and each message names itself.
  stream_request.mutable_request()->set_omit_column_names(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.timeout));
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub_->stub->GenerateStream(&context, stream_request);
  v1::GenerateResponse message;
  absl::Status appended;
  while (appended.ok() && reader->Read(&message)) appended = AppendGenerated(message, nullptr, generated);
  if (!appended.ok()) {
    context.TryCancel();
    (void)reader->Finish();
    return appended;
  }
  return FromGrpcStatus(reader->Finish());
}

absl::StatusOr<AnnData> GenailabClient::PredictPerturbation(
    const ModelRef& model, const AnnData& control_cells, const std::vector<std::string>& covariate_keys,
    const std::string& source_condition, const std::string& target_condition,
    PerturbationMethod method, const GeneMatchingOptions& gene_matching, const SamplerOptions& sampler,
    uint64_t seed) const {
  GENAILAB_RETURN_IF_ERROR(ValidateCells(control_cells));
  GENAILAB_ASSIGN_OR_RETURN(auto covariates, CovariateColumns(control_cells, covariate_keys));
  v1::PredictPerturbationRequest request;
  ModelRefToProto(model, request.mutable_model());
  CellsToProto(control_cells, request.mutable_cells());
  CovariatesToProto(covariates, request.mutable_covariates());
  request.set_source_condition(source_condition);
  request.set_target_condition(target_condition);
  request.set_method(PerturbationMethodToProto(method));
  GeneMatchingToProto(gene_matching, request.mutable_gene_matching());
  SamplerOptionsToProto(sampler, request.mutable_sampler());
  request.set_seed(seed);
  AnnData predicted;
  GENAILAB_ASSIGN_OR_RETURN(
      v1::PredictPerturbationResponse response,
      CallNamed(NamedCall(stub_->stub.get(), &v1::GenerativeService::Stub::PredictPerturbation, &request,
                          options_.timeout),
                model.name, &v1::PredictPerturbationResponse::cells, &predicted.var_names));
  GENAILAB_ASSIGN_OR_RETURN(predicted.x,
                            MatrixFromResponse(response.cells(), "cells", control_cells.n_obs(), nullptr));
  predicted.obs_names = control_cells.obs_names;
  predicted.obs = control_cells.obs;
  predicted.obs_numeric = control_cells.obs_numeric;
  // The predicted cells are under the target condition; label them so rather than as the controls.
  if (!response.condition_key().empty()) {
    predicted.obs[response.condition_key()].assign(static_cast<size_t>(predicted.n_obs()), target_condition);
  }
  return predicted;
}

}  // namespace genailab
