#include "client/fake_generative_service.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "data/matrix.h"
#include "data/matrix_codec.h"

namespace genailab {
namespace {

grpc::Status InvalidArgument(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(status.message()));
}

}  // namespace

FakeGenerativeService::FakeGenerativeService() = default;

void FakeGenerativeService::set_error(const grpc::Status& status) {
  absl::MutexLock lock(&mutex_);
  error_ = status;
}

int FakeGenerativeService::call_count() const {
  absl::MutexLock lock(&mutex_);
  return call_count_;
}

v1::EncodeRequest FakeGenerativeService::last_encode() const {
  absl::MutexLock lock(&mutex_);
  return last_encode_;
}

v1::DecodeRequest FakeGenerativeService::last_decode() const {
  absl::MutexLock lock(&mutex_);
  return last_decode_;
}

v1::GenerateStreamRequest FakeGenerativeService::last_generate_stream() const {
  absl::MutexLock lock(&mutex_);
  return last_generate_stream_;
}

v1::GenerateRequest FakeGenerativeService::last_generate() const {
  absl::MutexLock lock(&mutex_);
  return last_generate_;
}

v1::PredictPerturbationRequest FakeGenerativeService::last_predict() const {
  absl::MutexLock lock(&mutex_);
  return last_predict_;
}

grpc::Status FakeGenerativeService::BeginCall() {
  absl::MutexLock lock(&mutex_);
  ++call_count_;
  return error_;
}

std::vector<v1::ModelInfo> FakeGenerativeService::Models() {
  v1::ModelInfo pbmc;
  pbmc.set_name("pbmc");
  pbmc.set_version(3);
  pbmc.add_loaded_versions(2);
  pbmc.add_loaded_versions(3);
  pbmc.set_model_type("cvae");
  pbmc.set_likelihood("negative_binomial");
  for (const char* gene : {"gene_a", "gene_b", "gene_c"}) pbmc.add_gene_names(gene);
  v1::CovariateInfo* cell_type = pbmc.add_covariates();
  cell_type->set_name("cell_type");
  cell_type->add_values("B");
  cell_type->add_values("NK");
  pbmc.set_latent_dim(2);
  for (const char* rpc : {"Encode", "Decode", "Generate", "PredictPerturbation"}) {
    pbmc.add_supported_rpcs(rpc);
  }
  (*pbmc.mutable_training_metrics())["val_elbo"] = -123.5;
  pbmc.set_input_space("counts");
  pbmc.set_output_space("counts");
  pbmc.set_condition_key("condition");
  pbmc.add_conditions("control");
  pbmc.add_conditions("stimulated");
  pbmc.set_data_fingerprint("abc123");
  pbmc.set_created_at("2024-01-02T03:04:05Z");
  pbmc.set_hyperparameters_json(R"({"latent_dim": 2})");

  v1::ModelInfo plain;
  plain.set_name("plain");
  plain.set_version(1);
  plain.set_model_type("vae");
  plain.set_likelihood("gaussian");
  plain.add_gene_names("gene_a");
  plain.set_latent_dim(8);
  return {pbmc, plain};
}

grpc::Status FakeGenerativeService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                               v1::ListModelsResponse* response) {
  grpc::Status error = BeginCall();
  if (!error.ok()) return error;
  for (const v1::ModelInfo& info : Models()) *response->add_models() = info;
  return grpc::Status::OK;
}

grpc::Status FakeGenerativeService::GetModel(grpc::ServerContext*, const v1::GetModelRequest* request,
                                             v1::GetModelResponse* response) {
  grpc::Status error = BeginCall();
  if (!error.ok()) return error;
  for (const v1::ModelInfo& info : Models()) {
    if (info.name() == request->model().name()) {
      *response->mutable_model() = info;
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("model '", request->model().name(), "' not found"));
}

grpc::Status FakeGenerativeService::Encode(grpc::ServerContext*, const v1::EncodeRequest* request,
                                           v1::EncodeResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_encode_ = *request;
  }
  if (!error.ok()) return error;
  absl::StatusOr<DenseMatrix> cells = MatrixFromProto(request->cells(), "cells");
  if (!cells.ok()) return InvalidArgument(cells.status());
  absl::Status covariates =
      CovariatesFromProto(request->covariates(), cells->rows, "covariates").status();
  if (!covariates.ok()) return InvalidArgument(covariates);
  *response->mutable_model() = request->model();
  MatrixToProto(*cells, {}, /*sparse=*/false, response->mutable_latent_mean());
  DenseMatrix variance(cells->rows, cells->cols);
  std::fill(variance.values.begin(), variance.values.end(), 1.0f);
  MatrixToProto(variance, {}, /*sparse=*/false, response->mutable_latent_variance());
  return grpc::Status::OK;
}

grpc::Status FakeGenerativeService::Decode(grpc::ServerContext*, const v1::DecodeRequest* request,
                                           v1::DecodeResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_decode_ = *request;
  }
  if (!error.ok()) return error;
  absl::StatusOr<DenseMatrix> latent = MatrixFromProto(request->latent(), "latent");
  if (!latent.ok()) return InvalidArgument(latent.status());
  std::vector<std::string> genes;
  for (int64_t c = 0; c < latent->cols; ++c) genes.push_back(absl::StrCat("g", c));
  *response->mutable_model() = request->model();
  MatrixToProto(*latent, genes, /*sparse=*/false, response->mutable_expression());
  return grpc::Status::OK;
}

namespace {

// Generate's answer: group g's cells are all value g.
void FakeGenerated(const v1::GenerateRequest& request_message, v1::GenerateResponse* response) {
  const v1::GenerateRequest* request = &request_message;
  int64_t total = 0;
  for (const v1::GenerationGroup& group : request->groups()) total += group.n_cells();
  DenseMatrix cells(total, 3);
  std::map<std::string, std::vector<std::string>> covariates;
  int64_t row = 0;
  for (int g = 0; g < request->groups_size(); ++g) {
    const v1::GenerationGroup& group = request->groups(g);
    for (int64_t i = 0; i < group.n_cells(); ++i, ++row) {
      for (int64_t c = 0; c < 3; ++c) cells.at(row, c) = static_cast<float>(g);
      for (const auto& [name, value] : group.covariates()) covariates[name].push_back(value);
    }
  }
  *response->mutable_model() = request->model();
  MatrixToProto(cells, {"gene_a", "gene_b", "gene_c"}, /*sparse=*/false, response->mutable_cells());
  CovariatesToProto(covariates, response->mutable_covariates());
}

}  // namespace

grpc::Status FakeGenerativeService::Generate(grpc::ServerContext*, const v1::GenerateRequest* request,
                                             v1::GenerateResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_generate_ = *request;
  }
  if (!error.ok()) return error;
  FakeGenerated(*request, response);
  if (request->omit_column_names()) response->mutable_cells()->clear_column_names();
  return grpc::Status::OK;
}

grpc::Status FakeGenerativeService::GenerateStream(grpc::ServerContext*, const v1::GenerateStreamRequest* request,
                                                   grpc::ServerWriter<v1::GenerateResponse>* writer) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_generate_stream_ = *request;
  }
  if (!error.ok()) return error;
  v1::GenerateResponse all;
  FakeGenerated(request->request(), &all);
  absl::StatusOr<DenseMatrix> cells = MatrixFromProto(all.cells(), "cells");
  if (!cells.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(cells.status().message()));
  const int64_t chunk = request->chunk_cells() > 0 ? request->chunk_cells() : 2;
  for (int64_t begin = 0; begin < cells->rows; begin += chunk) {
    const int64_t end = std::min(cells->rows, begin + chunk);
    DenseMatrix part(end - begin, cells->cols);
    std::copy(cells->row(begin), cells->row(begin) + part.values.size(), part.values.begin());
    v1::GenerateResponse message;
    *message.mutable_model() = all.model();
    MatrixToProto(part, {"gene_a", "gene_b", "gene_c"}, /*sparse=*/false, message.mutable_cells());
    for (const v1::CovariateColumn& column : all.covariates()) {
      v1::CovariateColumn* out = message.add_covariates();
      out->set_name(column.name());
      for (int64_t i = begin; i < end; ++i) out->add_values(column.values(static_cast<int>(i)));
    }
    if (!writer->Write(message)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
  }
  return grpc::Status::OK;
}

grpc::Status FakeGenerativeService::PredictPerturbation(grpc::ServerContext*,
                                                        const v1::PredictPerturbationRequest* request,
                                                        v1::PredictPerturbationResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_predict_ = *request;
  }
  if (!error.ok()) return error;
  absl::StatusOr<DenseMatrix> cells = MatrixFromProto(request->cells(), "cells");
  if (!cells.ok()) return InvalidArgument(cells.status());
  for (float& v : cells->values) v += 1.0f;
  *response->mutable_model() = request->model();
  MatrixToProto(*cells, ColumnNames(request->cells()), /*sparse=*/false, response->mutable_cells());
  response->set_method(request->method());
  return grpc::Status::OK;
}

v1::InterpolateRequest FakeGenerativeService::last_interpolate() const {
  absl::MutexLock lock(&mutex_);
  return last_interpolate_;
}

v1::TraverseLatentRequest FakeGenerativeService::last_traverse() const {
  absl::MutexLock lock(&mutex_);
  return last_traverse_;
}

namespace {

// The documented path answer: point i has latent (i, 0) and expression 10 * i of gene "g0".
template <typename Response>
void FillPath(int steps, Response* response) {
  DenseMatrix latents(steps, 2), expression(steps, 1);
  for (int i = 0; i < steps; ++i) {
    latents.at(i, 0) = static_cast<float>(i);
    expression.at(i, 0) = 10.0f * static_cast<float>(i);
  }
  MatrixToProto(latents, {"z0", "z1"}, /*sparse=*/false, response->mutable_latents());
  MatrixToProto(expression, {"g0"}, /*sparse=*/false, response->mutable_expression());
}

}  // namespace

grpc::Status FakeGenerativeService::Interpolate(grpc::ServerContext*, const v1::InterpolateRequest* request,
                                                v1::InterpolateResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_interpolate_ = *request;
  }
  if (!error.ok()) return error;
  *response->mutable_model() = request->model();
  FillPath(request->steps(), response);
  for (int i = 0; i < request->steps(); ++i) {
    response->add_fractions(static_cast<float>(i) / static_cast<float>(request->steps() - 1));
  }
  return grpc::Status::OK;
}

grpc::Status FakeGenerativeService::TraverseLatent(grpc::ServerContext*, const v1::TraverseLatentRequest* request,
                                                   v1::TraverseLatentResponse* response) {
  grpc::Status error = BeginCall();
  {
    absl::MutexLock lock(&mutex_);
    last_traverse_ = *request;
  }
  if (!error.ok()) return error;
  *response->mutable_model() = request->model();
  FillPath(request->steps(), response);
  for (int i = 0; i < request->steps(); ++i) response->add_values(static_cast<float>(i));
  return grpc::Status::OK;
}

FakeServer::FakeServer() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    std::cerr << "FakeServer: could not listen on 127.0.0.1\n";
    std::abort();
  }
}

FakeServer::~FakeServer() { server_->Shutdown(); }

std::shared_ptr<grpc::Channel> FakeServer::NewChannel() const {
  return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

}  // namespace genailab
