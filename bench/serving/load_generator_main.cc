// serving_load: a load generator for genailab.v1.GenerativeService. It asks --info_target for the
// model's genes and covariates (GetModel), builds one request shape (Encode of --cells cells, or Generate
// of --cells cells, under each covariate's first value), then runs LoadGenerator against --target over
// --channels connections and prints one JSON object. --rpc=v2_encode / v2_generate send the same requests
// as KServe v2 ModelInfer calls (raw_input_contents, as Triton's clients send them; tensor conventions in
// server/kserve/README.md), for comparing the Open Inference Protocol path with the native one:
//   {"label":..., "rpc":..., "cells":..., "mode":"closed"|"open", "concurrency":C, "rate":R,
//    "requests_per_second":..., "cells_per_second":..., "p50_ms":..., "p90_ms":..., "p99_ms":...,
//    "seconds":..., "completed":..., "failed":..., "first_error":..., "cpu_seconds": {"self": S, "<pid>": P, ...}}
// cpu_seconds: CPU time used in the measured window by the load generator itself and by each process of
// --cpu_pids (the server under load), so that a report can tell the server's share of a shared machine.
//
//   serving_load --target=127.0.0.1:50051 --model=bench_cvae --rpc=encode --cells=1 --concurrency=64
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/serving/load_generator.h"
#include "bench/serving/process_cpu.h"
#include "common/malloc_tuning.h"
#include "data/matrix.h"
#include "data/matrix_codec.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "kserve/grpc_predict_v2.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/kserve/raw_bytes.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Server under load.");
ABSL_FLAG(std::string, info_target, "", "Server to ask GetModel (default --target).");
ABSL_FLAG(std::string, model, "", "Model name.");
ABSL_FLAG(std::string, rpc, "encode",
          "encode or generate (genailab.v1), or v2_encode or v2_generate (KServe v2 ModelInfer, same requests).");
ABSL_FLAG(int64_t, cells, 1, "Cells per request.");
ABSL_FLAG(int, concurrency, 0, "Closed loop: calls in flight.");
ABSL_FLAG(double, rate, 0, "Open loop: calls per second.");
ABSL_FLAG(double, duration_s, 5, "Measured seconds.");
ABSL_FLAG(double, warmup_s, 1, "Unmeasured warm-up seconds.");
ABSL_FLAG(int, channels, 4, "Connections to spread calls over.");
ABSL_FLAG(double, deadline_s, 30, "Deadline of each call.");
ABSL_FLAG(std::string, label, "", "Copied into the JSON output.");
ABSL_FLAG(bool, omit_column_names, false,
          "Set the requests' omit_column_names: responses without gene / latent names (a caller that fetched "
          "them once with GetModel).");
ABSL_FLAG(std::vector<std::string>, cpu_pids, {},
          "Processes (comma-separated pids, e.g. the server's) whose CPU time in the measured window to report.");

namespace genailab {
namespace {

absl::StatusOr<v1::ModelInfo> FetchModel(const std::string& target, const std::string& model) {
  auto stub = v1::GenerativeService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetModelRequest request;
  request.mutable_model()->set_name(model);
  v1::GetModelResponse response;
  const grpc::Status status = stub->GetModel(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("GetModel(", model, ") on ", target, ": ", status.error_message()));
  }
  return response.model();
}

// Counts-like values (0..4) with every covariate at its first value.
v1::EncodeRequest MakeEncode(const v1::ModelInfo& info, int64_t cells) {
  v1::EncodeRequest request;
  request.mutable_model()->set_name(info.name());
  DenseMatrix x(cells, info.gene_names_size());
  std::mt19937 random(7);
  for (float& v : x.values) v = static_cast<float>(random() % 5);
  MatrixToProto(x, {info.gene_names().begin(), info.gene_names().end()}, /*sparse=*/false,
                request.mutable_cells());
  for (const auto& covariate : info.covariates()) {
    v1::CovariateColumn* column = request.add_covariates();
    column->set_name(covariate.name());
    for (int64_t i = 0; i < cells; ++i) column->add_values(covariate.values(0));
  }
  return request;
}

v1::GenerateRequest MakeGenerate(const v1::ModelInfo& info, int64_t cells) {
  v1::GenerateRequest request;
  request.mutable_model()->set_name(info.name());
  v1::GenerationGroup* group = request.add_groups();
  group->set_n_cells(cells);
  for (const auto& covariate : info.covariates()) (*group->mutable_covariates())[covariate.name()] = covariate.values(0);
  request.set_seed(1);
  return request;
}

// One BYTES input of `n` copies of `value`, with its raw contents.
void AddBytesInput(const std::string& name, const std::string& value, int64_t n,
                   inference::ModelInferRequest* request) {
  auto* input = request->add_inputs();
  input->set_name(name);
  input->set_datatype("BYTES");
  input->add_shape(n);
  std::string* raw = request->add_raw_input_contents();
  for (int64_t i = 0; i < n; ++i) AppendRawBytes(value, raw);
}

// MakeEncode's request as a v2 ModelInfer: "cells" FP32 [cells, genes] and one BYTES input per covariate.
inference::ModelInferRequest MakeV2Encode(const v1::EncodeRequest& encode) {
  inference::ModelInferRequest request;
  request.set_model_name(encode.model().name());
  (*request.mutable_parameters())["rpc"].set_string_param("encode");
  auto* cells = request.add_inputs();
  cells->set_name("cells");
  cells->set_datatype("FP32");
  cells->add_shape(encode.cells().rows());
  cells->add_shape(encode.cells().cols());
  const auto& values = encode.cells().dense().values();
  request.add_raw_input_contents()->assign(reinterpret_cast<const char*>(values.data()),
                                           static_cast<size_t>(values.size()) * sizeof(float));
  for (const v1::CovariateColumn& column : encode.covariates()) {
    AddBytesInput(column.name(), column.values(0), column.values_size(), &request);
  }
  return request;
}

// MakeGenerate's request as a v2 ModelInfer: parameters n_cells and seed, one BYTES [1] input per covariate.
inference::ModelInferRequest MakeV2Generate(const v1::GenerateRequest& generate) {
  inference::ModelInferRequest request;
  request.set_model_name(generate.model().name());
  auto& parameters = *request.mutable_parameters();
  parameters["rpc"].set_string_param("generate");
  parameters["n_cells"].set_int64_param(generate.groups(0).n_cells());
  parameters["seed"].set_int64_param(static_cast<int64_t>(generate.seed()));
  for (const auto& [name, value] : generate.groups(0).covariates()) AddBytesInput(name, value, 1, &request);
  return request;
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::duration<double>(absl::GetFlag(FLAGS_deadline_s)));
}

// One call's state, alive until its completion callback. The response lives on the call's own arena
// (as genailab-server's messages do), so that parsing hundreds of gene names per response costs the
// load generator little: its CPU is shared with the server under test.
template <typename Request, typename Response>
struct Call {
  static google::protobuf::ArenaOptions ArenaSize() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 * 1024;
    options.max_block_size = 1 << 20;
    return options;
  }
  grpc::ClientContext context;
  google::protobuf::Arena arena{ArenaSize()};
  Response* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
};

int Run() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string info_target =
      absl::GetFlag(FLAGS_info_target).empty() ? target : absl::GetFlag(FLAGS_info_target);
  absl::StatusOr<v1::ModelInfo> info = FetchModel(info_target, absl::GetFlag(FLAGS_model));
  if (!info.ok()) {
    std::cerr << info.status() << "\n";
    return 1;
  }
  const int64_t cells = absl::GetFlag(FLAGS_cells);
  // One connection per channel; each carries both APIs' stubs.
  std::vector<std::unique_ptr<v1::GenerativeService::Stub>> stubs;
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> v2_stubs;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_channels)); ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt("grpc.use_local_subchannel_pool", 1);  // A connection per channel.
    arguments.SetMaxReceiveMessageSize(-1);
    arguments.SetMaxSendMessageSize(-1);
    const std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
    stubs.push_back(v1::GenerativeService::NewStub(channel));
    v2_stubs.push_back(inference::GRPCInferenceService::NewStub(channel));
  }
  auto next_stub = std::make_shared<std::atomic<uint64_t>>(0);
  v1::EncodeRequest encode = MakeEncode(*info, cells);
  v1::GenerateRequest generate = MakeGenerate(*info, cells);
  const bool omit_column_names = absl::GetFlag(FLAGS_omit_column_names);
  encode.set_omit_column_names(omit_column_names);
  generate.set_omit_column_names(omit_column_names);
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  LoadGenerator::Issue issue;
  if (rpc == "encode") {
    issue = [&](LoadGenerator::Done done) {
      auto* call = new Call<v1::EncodeRequest, v1::EncodeResponse>;
      call->context.set_deadline(Deadline());
      v1::GenerativeService::Stub* stub = stubs[(*next_stub)++ % stubs.size()].get();
      stub->async()->Encode(&call->context, &encode, call->response, [call, done](grpc::Status status) {
        delete call;
        done(status.ok() ? std::string() : absl::StrCat(status.error_code(), ": ", status.error_message()));
      });
    };
  } else if (rpc == "generate") {
    issue = [&](LoadGenerator::Done done) {
      auto* call = new Call<v1::GenerateRequest, v1::GenerateResponse>;
      call->context.set_deadline(Deadline());
      v1::GenerativeService::Stub* stub = stubs[(*next_stub)++ % stubs.size()].get();
      stub->async()->Generate(&call->context, &generate, call->response, [call, done](grpc::Status status) {
        delete call;
        done(status.ok() ? std::string() : absl::StrCat(status.error_code(), ": ", status.error_message()));
      });
    };
  } else if (rpc == "v2_encode" || rpc == "v2_generate") {
    auto v2_request = std::make_shared<inference::ModelInferRequest>(rpc == "v2_encode" ? MakeV2Encode(encode)
                                                                                        : MakeV2Generate(generate));
    issue = [&, v2_request](LoadGenerator::Done done) {
      auto* call = new Call<inference::ModelInferRequest, inference::ModelInferResponse>;
      call->context.set_deadline(Deadline());
      inference::GRPCInferenceService::Stub* stub = v2_stubs[(*next_stub)++ % v2_stubs.size()].get();
      stub->async()->ModelInfer(&call->context, v2_request.get(), call->response, [call, done](grpc::Status status) {
        delete call;
        done(status.ok() ? std::string() : absl::StrCat(status.error_code(), ": ", status.error_message()));
      });
    };
  } else {
    std::cerr << "--rpc must be encode, generate, v2_encode or v2_generate\n";
    return 2;
  }
  LoadGenerator::Options options;
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  options.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
  std::vector<int> pids = {0};
  for (const std::string& text : absl::GetFlag(FLAGS_cpu_pids)) {
    int pid = 0;
    if (!absl::SimpleAtoi(text, &pid) || pid <= 0) {
      std::cerr << "--cpu_pids: '" << text << "' is not a process id\n";
      return 2;
    }
    pids.push_back(pid);
  }
  const CpuWindow::Clock::time_point window_start =
      CpuWindow::Clock::now() + absl::ToChronoNanoseconds(options.warmup);
  std::unique_ptr<CpuWindow> cpu =
      CpuWindow::Create(pids, window_start, window_start + absl::ToChronoNanoseconds(options.duration));
  absl::StatusOr<LoadReport> report = LoadGenerator::Run(options, issue);
  const std::vector<absl::StatusOr<double>> cpu_seconds = cpu->Finish();
  if (!report.ok()) {
    std::cerr << report.status() << "\n";
    return 2;
  }
  nlohmann::json json = {
      {"label", absl::GetFlag(FLAGS_label)},
      {"rpc", rpc},
      {"cells", cells},
      {"mode", options.concurrency > 0 ? "closed" : "open"},
      {"omit_column_names", omit_column_names},
      {"concurrency", options.concurrency},
      {"rate", options.rate},
      {"requests_per_second", report->requests_per_second},
      {"cells_per_second", report->requests_per_second * static_cast<double>(cells)},
      {"p50_ms", report->p50_ms},
      {"p90_ms", report->p90_ms},
      {"p99_ms", report->p99_ms},
      {"seconds", report->seconds},
      {"completed", report->completed},
      {"failed", report->failed},
      {"first_error", report->first_error},
      {"cpu_seconds", nlohmann::json::object()},
  };
  for (size_t i = 0; i < pids.size(); ++i) {
    if (!cpu_seconds[i].ok()) {
      std::cerr << "cpu time of " << (pids[i] == 0 ? "self" : absl::StrCat(pids[i])) << ": " << cpu_seconds[i].status()
                << "\n";
      continue;
    }
    json["cpu_seconds"][pids[i] == 0 ? "self" : absl::StrCat(pids[i])] = *cpu_seconds[i];
  }
  std::cout << json.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  // The same malloc settings as genailab-server, so that neither side of a comparison pays page faults
  // the other does not.
  genailab::KeepLargeBuffersInHeap();
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
