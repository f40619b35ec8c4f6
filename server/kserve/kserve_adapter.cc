#include "server/kserve/kserve_adapter.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "data/matrix.h"
#include "data/matrix_codec.h"
#include "google/protobuf/arena.h"
#include "models/model_manifest.h"
#include "server/core/model_manager.h"
#include "server/core/request_completion.h"
#include "server/kserve/raw_bytes.h"

namespace genailab {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ParameterMap = google::protobuf::Map<std::string, InferParameter>;

constexpr char kFp32[] = "FP32";
constexpr char kBytes[] = "BYTES";

// The tensor names of the conventions (server/kserve/README.md).
constexpr char kCells[] = "cells";
constexpr char kLatent[] = "latent";
constexpr char kLibrarySize[] = "library_size";
constexpr char kLatentMean[] = "latent_mean";
constexpr char kLatentVariance[] = "latent_variance";
constexpr char kExpression[] = "expression";

// One decoded input tensor: FP32 values or BYTES elements.
struct Tensor {
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> floats;
  std::vector<std::string> strings;
  int64_t elements = 0;
};
using TensorMap = std::map<std::string, Tensor>;

std::string TensorField(const std::string& name) { return absl::StrCat("inputs[\"", name, "\"]"); }

absl::StatusOr<int64_t> ElementCount(const google::protobuf::RepeatedField<int64_t>& shape,
                                     const std::string& field) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return absl::InvalidArgumentError(absl::StrCat(field, ".shape: negative dimension ", dim));
    if (dim > 0 && count > (int64_t{1} << 40) / dim) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".shape: too many elements"));
    }
    count *= dim;
  }
  return count;
}

absl::StatusOr<TensorMap> DecodeInputs(const ModelInferRequest& request) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents: ", request.raw_input_contents_size(),
                                                   " entries for ", request.inputs_size(), " inputs"));
  }
  TensorMap tensors;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    const std::string field = TensorField(input.name());
    if (tensors.count(input.name()) > 0) return absl::InvalidArgumentError(absl::StrCat(field, ": given twice"));
    Tensor tensor;
    tensor.datatype = input.datatype();
    tensor.shape.assign(input.shape().begin(), input.shape().end());
    GENAILAB_ASSIGN_OR_RETURN(tensor.elements, ElementCount(input.shape(), field));
    if (tensor.datatype == kFp32) {
      if (raw) {
        const std::string& bytes = request.raw_input_contents(i);
        if (static_cast<int64_t>(bytes.size()) != tensor.elements * 4) {
          return absl::InvalidArgumentError(absl::StrCat(field, ": ", bytes.size(), " raw bytes for ",
                                                         tensor.elements, " FP32 elements"));
        }
        tensor.floats.resize(static_cast<size_t>(tensor.elements));
        // x86 and ARM hosts are little-endian, as the protocol's raw encoding is.
        std::memcpy(tensor.floats.data(), bytes.data(), bytes.size());
      } else {
        const auto& values = input.contents().fp32_contents();
        if (values.size() != tensor.elements) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".contents.fp32_contents: ", values.size(),
                                                         " values for shape of ", tensor.elements));
        }
        tensor.floats.assign(values.begin(), values.end());
      }
    } else if (tensor.datatype == kBytes) {
      if (raw) {
        GENAILAB_ASSIGN_OR_RETURN(tensor.strings,
                                  DecodeRawBytes(request.raw_input_contents(i), tensor.elements, field));
      } else {
        const auto& values = input.contents().bytes_contents();
        if (values.size() != tensor.elements) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".contents.bytes_contents: ", values.size(),
                                                         " elements for shape of ", tensor.elements));
        }
        tensor.strings.assign(values.begin(), values.end());
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".datatype: '", tensor.datatype, "' is not supported (FP32 or BYTES)"));
    }
    tensors.emplace(input.name(), std::move(tensor));
  }
  return tensors;
}

// Removes and returns the FP32 tensor `name` of shape [rows, cols]; cols = -1 accepts any width.
absl::StatusOr<DenseMatrix> TakeMatrix(TensorMap* tensors, const std::string& name,
                                       int64_t cols) {
  auto it = tensors->find(name);
  const std::string field = TensorField(name);
  if (it == tensors->end()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  Tensor& tensor = it->second;
  if (tensor.datatype != kFp32) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".datatype: must be FP32, got ", tensor.datatype));
  }
  if (tensor.shape.size() != 2 || (cols >= 0 && tensor.shape[1] != cols)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".shape: must be [n, ", cols < 0 ? "d" : absl::StrCat(cols),
                                                   "], got [", absl::StrJoin(tensor.shape, ", "), "]"));
  }
  DenseMatrix matrix;
  matrix.rows = tensor.shape[0];
  matrix.cols = tensor.shape[1];
  matrix.values = std::move(tensor.floats);
  tensors->erase(it);
  return matrix;
}

// Removes and returns the optional FP32 vector `name` of `n` elements (empty when absent).
absl::StatusOr<std::vector<float>> TakeOptionalVector(TensorMap* tensors,
                                                      const std::string& name, int64_t n) {
  auto it = tensors->find(name);
  if (it == tensors->end()) return std::vector<float>();
  const std::string field = TensorField(name);
  if (it->second.datatype != kFp32 || it->second.elements != n) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be FP32 with ", n, " elements"));
  }
  std::vector<float> values = std::move(it->second.floats);
  tensors->erase(it);
  return values;
}

// Every remaining tensor is a covariate: BYTES with `n` elements (one per cell, or n = 1 for generate).
absl::StatusOr<std::map<std::string, std::vector<std::string>>> TakeCovariates(
    TensorMap* tensors, int64_t n) {
  std::map<std::string, std::vector<std::string>> covariates;
  for (auto& [name, tensor] : *tensors) {
    const std::string field = TensorField(name);
    if (tensor.datatype != kBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unexpected ", tensor.datatype, " input (covariates are BYTES)"));
    }
    if (tensor.elements != n) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": covariate has ", tensor.elements, " elements, expected ", n));
    }
    covariates[name] = std::move(tensor.strings);
  }
  tensors->clear();
  return covariates;
}

const InferParameter* FindParameter(const ParameterMap& parameters, const std::string& key) {
  auto it = parameters.find(key);
  return it == parameters.end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> StringParameter(const ParameterMap& parameters, const std::string& key,
                                            const std::string& fallback) {
  const InferParameter* parameter = FindParameter(parameters, key);
  if (parameter == nullptr) return fallback;
  if (parameter->parameter_choice_case() != InferParameter::kStringParam) {
    return absl::InvalidArgumentError(absl::StrCat("parameters[\"", key, "\"]: must be a string_param"));
  }
  return parameter->string_param();
}

absl::StatusOr<int64_t> IntParameter(const ParameterMap& parameters, const std::string& key, int64_t fallback) {
  const InferParameter* parameter = FindParameter(parameters, key);
  if (parameter == nullptr) return fallback;
  switch (parameter->parameter_choice_case()) {
    case InferParameter::kInt64Param:
      return parameter->int64_param();
    case InferParameter::kUint64Param:
      return static_cast<int64_t>(parameter->uint64_param());
    default:
      return absl::InvalidArgumentError(absl::StrCat("parameters[\"", key, "\"]: must be an int64_param"));
  }
}

absl::StatusOr<double> DoubleParameter(const ParameterMap& parameters, const std::string& key, double fallback) {
  const InferParameter* parameter = FindParameter(parameters, key);
  if (parameter == nullptr) return fallback;
  if (parameter->parameter_choice_case() == InferParameter::kDoubleParam) return parameter->double_param();
  if (parameter->parameter_choice_case() == InferParameter::kInt64Param) {
    return static_cast<double>(parameter->int64_param());
  }
  return absl::InvalidArgumentError(absl::StrCat("parameters[\"", key, "\"]: must be a double_param"));
}

absl::StatusOr<bool> BoolParameter(const ParameterMap& parameters, const std::string& key) {
  const InferParameter* parameter = FindParameter(parameters, key);
  if (parameter == nullptr) return false;
  if (parameter->parameter_choice_case() != InferParameter::kBoolParam) {
    return absl::InvalidArgumentError(absl::StrCat("parameters[\"", key, "\"]: must be a bool_param"));
  }
  return parameter->bool_param();
}

absl::StatusOr<int64_t> ParseVersion(const std::string& version, const std::string& field) {
  if (version.empty()) return 0;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(version, &parsed) || parsed < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", version, "' is not a version number (empty = newest)"));
  }
  return parsed;
}

// Writes the requested outputs (all when none is named) in the encoding the request used: raw bytes when
// its inputs were raw, typed contents otherwise.
class OutputWriter {
 public:
  OutputWriter(const ModelInferRequest& request, ModelInferResponse* response)
      : raw_(request.raw_input_contents_size() > 0), response_(response) {
    for (const auto& output : request.outputs()) requested_.insert(output.name());
  }

  void AddMatrix(const std::string& name, const DenseMatrix& matrix) {
    if (!Wanted(name)) return;
    auto* output = AddOutput(name, kFp32, {matrix.rows, matrix.cols});
    if (raw_) {
      response_->add_raw_output_contents(reinterpret_cast<const char*>(matrix.values.data()),
                                         matrix.values.size() * sizeof(float));
    } else {
      output->mutable_contents()->mutable_fp32_contents()->Add(matrix.values.begin(), matrix.values.end());
    }
  }

  void AddStrings(const std::string& name, const std::vector<std::string>& values) {
    if (!Wanted(name)) return;
    auto* output = AddOutput(name, kBytes, {static_cast<int64_t>(values.size())});
    if (raw_) {
      std::string* raw = response_->add_raw_output_contents();
      for (const std::string& value : values) AppendRawBytes(value, raw);
    } else {
      for (const std::string& value : values) output->mutable_contents()->add_bytes_contents(value);
    }
  }

  // INVALID_ARGUMENT naming a requested output that the rpc does not produce.
  absl::Status Finish() const {
    for (const std::string& name : requested_) {
      if (written_.count(name) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("outputs: this rpc has no output '", name, "'"));
      }
    }
    return absl::OkStatus();
  }

 private:
  bool Wanted(const std::string& name) const { return requested_.empty() || requested_.count(name) > 0; }

  ModelInferResponse::InferOutputTensor* AddOutput(const std::string& name, const char* datatype,
                                                   std::initializer_list<int64_t> shape) {
    written_.insert(name);
    auto* output = response_->add_outputs();
    output->set_name(name);
    output->set_datatype(datatype);
    for (int64_t dim : shape) output->add_shape(dim);
    return output;
  }

  const bool raw_;
  ModelInferResponse* const response_;
  std::set<std::string> requested_;
  std::set<std::string> written_;
};

absl::StatusOr<DenseMatrix> ResponseMatrix(const v1::Matrix& proto, const std::string& field) {
  absl::StatusOr<DenseMatrix> matrix = MatrixFromProto(proto, field);
  if (!matrix.ok()) return absl::InternalError(absl::StrCat("core response: ", matrix.status().message()));
  return matrix;
}

}  // namespace

bool KServeAdapter::ServerReady(const CallContext& call) const {
  absl::StatusOr<v1::ListModelsResponse> models = core_->ListModels(v1::ListModelsRequest(), call);
  return models.ok() && models->models_size() > 0;
}

absl::StatusOr<bool> KServeAdapter::ModelReady(const std::string& name, const std::string& version,
                                               const CallContext&) const {
  v1::ModelSpec spec;
  spec.set_name(name);
  GENAILAB_ASSIGN_OR_RETURN(const int64_t number, ParseVersion(version, "version"));
  spec.set_version(number);
  // A readiness probe: resolving the version is the whole answer (no model description is built).
  absl::StatusOr<std::shared_ptr<const ServableModel>> servable = core_->ResolveModel(spec);
  if (servable.ok()) return true;
  if (servable.status().code() == absl::StatusCode::kNotFound) return false;
  return servable.status();
}

absl::StatusOr<inference::ModelMetadataResponse> KServeAdapter::ModelMetadata(
    const inference::ModelMetadataRequest& request, const CallContext& call) const {
  v1::GetModelRequest get;
  get.mutable_model()->set_name(request.name());
  GENAILAB_ASSIGN_OR_RETURN(const int64_t version, ParseVersion(request.version(), "version"));
  get.mutable_model()->set_version(version);
  GENAILAB_ASSIGN_OR_RETURN(const v1::GetModelResponse model, core_->GetModel(get, call));
  const v1::ModelInfo& info = model.model();
  inference::ModelMetadataResponse response;
  response.set_name(info.name());
  response.set_platform(absl::StrCat("genailab_", info.model_type()));
  for (int64_t loaded : info.loaded_versions()) response.add_versions(absl::StrCat(loaded));
  if (response.versions_size() == 0) response.add_versions(absl::StrCat(info.version()));
  auto add = [](auto* tensors, const std::string& name, const char* datatype, std::vector<int64_t> shape) {
    auto* tensor = tensors->Add();
    tensor->set_name(name);
    tensor->set_datatype(datatype);
    for (int64_t dim : shape) tensor->add_shape(dim);
  };
  add(response.mutable_inputs(), kCells, kFp32, {-1, info.gene_names_size()});
  for (const auto& covariate : info.covariates()) add(response.mutable_inputs(), covariate.name(), kBytes, {-1});
  add(response.mutable_outputs(), kLatentMean, kFp32, {-1, info.latent_dim()});
  add(response.mutable_outputs(), kLatentVariance, kFp32, {-1, info.latent_dim()});
  return response;
}

namespace {

// Runs one core call with a v1 response of its own; on the core's worker thread, `fill` writes the v2
// outputs from that response, then the response gets the version that served it, then `done`.
template <typename V1Response, typename Start, typename Fill>
void RunThroughCore(Start start, Fill fill, std::shared_ptr<OutputWriter> writer, ModelInferResponse* response,
                    StatusCallback done) {
  auto answer = std::make_shared<V1Response>();
  V1Response* out = answer.get();
  start(out, [answer, fill = std::move(fill), writer = std::move(writer), response,
              done = std::move(done)](absl::Status status) {
    if (status.ok()) status = fill(*answer, *writer);
    if (status.ok()) status = writer->Finish();
    if (status.ok()) response->set_model_version(absl::StrCat(answer->model().version()));
    done(status);
  });
}

}  // namespace

void KServeAdapter::ModelInferAsync(const ModelInferRequest& request, const CallContext& call,
                                    ModelInferResponse* response, StatusCallback done) const {
  const absl::Status status = StartModelInfer(request, call, response, done);
  if (!status.ok()) done(status);
}

absl::Status KServeAdapter::StartModelInfer(const ModelInferRequest& request, const CallContext& call,
                                            ModelInferResponse* response, StatusCallback& done) const {
  GENAILAB_ASSIGN_OR_RETURN(const std::string rpc, StringParameter(request.parameters(), "rpc", "encode"));
  v1::ModelSpec spec;
  spec.set_name(request.model_name());
  GENAILAB_ASSIGN_OR_RETURN(const int64_t version, ParseVersion(request.model_version(), "model_version"));
  spec.set_version(version);
  // The genes and shapes of the version the request names; the core resolves the spec again when it
  // runs the call, and matches the genes by name, so a version swapped in between is still served right.
  GENAILAB_ASSIGN_OR_RETURN(const std::shared_ptr<const ServableModel> servable, core_->ResolveModel(spec));
  const ModelManifest& manifest = servable->model->manifest();
  const std::vector<std::string>& genes = manifest.gene_names;
  GENAILAB_ASSIGN_OR_RETURN(TensorMap tensors, DecodeInputs(request));
  // The genailab.v1 request built below lives on this arena: its gene names are hundreds of short
  // strings, which the arena takes from one block (on this stack frame for small requests) and drops at
  // once. The core reads the request only while it is being started.
  char first_block[16 * 1024];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block;
  arena_options.initial_block_size = sizeof(first_block);
  google::protobuf::Arena arena(arena_options);

  response->set_model_name(request.model_name());
  response->set_id(request.id());
  auto writer = std::make_shared<OutputWriter>(request, response);

  if (rpc == "encode" || rpc == "predict_perturbation") {
    GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix cells,
                              TakeMatrix(&tensors, kCells, static_cast<int64_t>(genes.size())));
    GENAILAB_ASSIGN_OR_RETURN(auto covariates, TakeCovariates(&tensors, cells.rows));
    if (rpc == "encode") {
      auto& encode = *google::protobuf::Arena::CreateMessage<v1::EncodeRequest>(&arena);
      *encode.mutable_model() = spec;
      encode.set_omit_column_names(true);  // the v2 outputs carry no names
      MatrixToProto(cells, genes, /*sparse=*/false, encode.mutable_cells());
      CovariatesToProto(covariates, encode.mutable_covariates());
      RunThroughCore<v1::EncodeResponse>(
          [&](v1::EncodeResponse* out, StatusCallback core_done) {
            core_->EncodeAsync(encode, call, out, std::move(core_done));
          },
          [](const v1::EncodeResponse& encoded, OutputWriter& out) -> absl::Status {
            GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix mean, ResponseMatrix(encoded.latent_mean(), kLatentMean));
            GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix variance,
                                      ResponseMatrix(encoded.latent_variance(), kLatentVariance));
            out.AddMatrix(kLatentMean, mean);
            out.AddMatrix(kLatentVariance, variance);
            return absl::OkStatus();
          },
          std::move(writer), response, std::move(done));
      return absl::OkStatus();
    }
    auto& predict = *google::protobuf::Arena::CreateMessage<v1::PredictPerturbationRequest>(&arena);
    *predict.mutable_model() = spec;
    predict.set_omit_column_names(true);  // the v2 outputs carry no names
    MatrixToProto(cells, genes, /*sparse=*/false, predict.mutable_cells());
    CovariatesToProto(covariates, predict.mutable_covariates());
    GENAILAB_ASSIGN_OR_RETURN(*predict.mutable_source_condition(),
                              StringParameter(request.parameters(), "source_condition", ""));
    GENAILAB_ASSIGN_OR_RETURN(*predict.mutable_target_condition(),
                              StringParameter(request.parameters(), "target_condition", ""));
    GENAILAB_ASSIGN_OR_RETURN(const std::string method, StringParameter(request.parameters(), "method", "default"));
    v1::PerturbationMethod parsed = v1::PERTURBATION_METHOD_DEFAULT;
    if (!v1::PerturbationMethod_Parse(absl::StrCat("PERTURBATION_METHOD_", absl::AsciiStrToUpper(method)),
                                      &parsed)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters[\"method\"]: unknown '", method, "' (default, latent_arithmetic or counterfactual)"));
    }
    predict.set_method(parsed);
    RunThroughCore<v1::PredictPerturbationResponse>(
        [&](v1::PredictPerturbationResponse* out, StatusCallback core_done) {
          core_->PredictPerturbationAsync(predict, call, out, std::move(core_done));
        },
        [](const v1::PredictPerturbationResponse& predicted, OutputWriter& out) -> absl::Status {
          GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix cells, ResponseMatrix(predicted.cells(), "cells"));
          out.AddMatrix(kCells, cells);
          return absl::OkStatus();
        },
        std::move(writer), response, std::move(done));
    return absl::OkStatus();
  }
  if (rpc == "decode") {
    GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix latent, TakeMatrix(&tensors, kLatent, manifest.latent_dim));
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<float> library_size,
                              TakeOptionalVector(&tensors, kLibrarySize, latent.rows));
    GENAILAB_ASSIGN_OR_RETURN(auto covariates, TakeCovariates(&tensors, latent.rows));
    auto& decode = *google::protobuf::Arena::CreateMessage<v1::DecodeRequest>(&arena);
    *decode.mutable_model() = spec;
    decode.set_omit_column_names(true);  // the v2 outputs carry no names
    MatrixToProto(latent, {}, /*sparse=*/false, decode.mutable_latent());
    CovariatesToProto(covariates, decode.mutable_covariates());
    decode.mutable_library_size()->Add(library_size.begin(), library_size.end());
    RunThroughCore<v1::DecodeResponse>(
        [&](v1::DecodeResponse* out, StatusCallback core_done) {
          core_->DecodeAsync(decode, call, out, std::move(core_done));
        },
        [](const v1::DecodeResponse& decoded, OutputWriter& out) -> absl::Status {
          GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix expression, ResponseMatrix(decoded.expression(), kExpression));
          out.AddMatrix(kExpression, expression);
          return absl::OkStatus();
        },
        std::move(writer), response, std::move(done));
    return absl::OkStatus();
  }
  if (rpc == "generate") {
    GENAILAB_ASSIGN_OR_RETURN(auto covariates, TakeCovariates(&tensors, 1));
    auto& generate = *google::protobuf::Arena::CreateMessage<v1::GenerateRequest>(&arena);
    *generate.mutable_model() = spec;
    generate.set_omit_column_names(true);  // the v2 outputs carry no names
    v1::GenerationGroup* group = generate.add_groups();
    for (const auto& [name, values] : covariates) (*group->mutable_covariates())[name] = values.front();
    GENAILAB_ASSIGN_OR_RETURN(const int64_t n_cells, IntParameter(request.parameters(), "n_cells", 0));
    group->set_n_cells(n_cells);
    GENAILAB_ASSIGN_OR_RETURN(const int64_t seed, IntParameter(request.parameters(), "seed", 0));
    generate.set_seed(static_cast<uint64_t>(seed));
    GENAILAB_ASSIGN_OR_RETURN(const double library_size, DoubleParameter(request.parameters(), "library_size", 0));
    generate.set_library_size(static_cast<float>(library_size));
    GENAILAB_ASSIGN_OR_RETURN(const bool sample_counts, BoolParameter(request.parameters(), "sample_counts"));
    generate.set_sample_counts(sample_counts);
    RunThroughCore<v1::GenerateResponse>(
        [&](v1::GenerateResponse* out, StatusCallback core_done) {
          core_->GenerateAsync(generate, call, out, std::move(core_done));
        },
        [](const v1::GenerateResponse& generated, OutputWriter& out) -> absl::Status {
          GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix cells, ResponseMatrix(generated.cells(), "cells"));
          out.AddMatrix(kCells, cells);
          return absl::OkStatus();
        },
        std::move(writer), response, std::move(done));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "parameters[\"rpc\"]: unknown '", rpc, "' (encode, decode, generate or predict_perturbation)"));
}

absl::StatusOr<ModelInferResponse> KServeAdapter::ModelInfer(const ModelInferRequest& request,
                                                             const CallContext& call) const {
  auto response = std::make_shared<ModelInferResponse>();
  GENAILAB_ASSIGN_OR_RETURN(
      std::shared_ptr<ModelInferResponse> result,
      Await<std::shared_ptr<ModelInferResponse>>(call, [&](Callback<std::shared_ptr<ModelInferResponse>> finished) {
        ModelInferAsync(request, call, response.get(), [response, finished = std::move(finished)](absl::Status status) {
          if (status.ok()) {
            finished(response);
          } else {
            finished(std::move(status));
          }
        });
      }));
  return std::move(*result);
}

}  // namespace genailab
