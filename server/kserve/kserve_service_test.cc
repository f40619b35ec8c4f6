// The Open Inference Protocol through the assembled server, with a v2 client of its own (the generated
// inference.GRPCInferenceService stub), over the fake models of server/testing.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/http/http_get.h"
#include "data/status_matchers.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_builder.h"
#include "kserve/grpc_predict_v2.grpc.pb.h"
#include "server/core/generative_core.h"
#include "server/core/model_manager.h"
#include "server/grpc/genailab_server.h"
#include "server/kserve/kserve_service.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class KServeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path root = fs::path(std::getenv("TEST_TMPDIR")) /
                          ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root);
    fs::create_directories(root);
    WriteFakeVersion(root.string(), FakeConditionalManifest("cond", 3));
    GenailabServer::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "127.0.0.1:0";
    options.repository_root = root.string();
    options.device = "cpu";
    options.loader = FakeModelLoader();
    auto server = GenailabServer::Create(std::move(options));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    ASSERT_THAT(server_->Start(), IsOk());
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::Now() + absl::Seconds(5));
      server_->Wait();
    }
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  // Two cells x genes g0..g2 with covariates cell_type (A, B) and condition (ctrl, ctrl), as typed
  // contents.
  static inference::ModelInferRequest EncodeRequest() {
    inference::ModelInferRequest request;
    request.set_model_name("cond");
    request.set_id("req-1");
    auto* cells = request.add_inputs();
    cells->set_name("cells");
    cells->set_datatype("FP32");
    cells->add_shape(2);
    cells->add_shape(3);
    for (float v : {1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 1.0f}) cells->mutable_contents()->add_fp32_contents(v);
    AddBytes(&request, "cell_type", {"A", "B"});
    AddBytes(&request, "condition", {"ctrl", "ctrl"});
    return request;
  }

  static void AddBytes(inference::ModelInferRequest* request, const std::string& name,
                       const std::vector<std::string>& values) {
    auto* input = request->add_inputs();
    input->set_name(name);
    input->set_datatype("BYTES");
    input->add_shape(static_cast<int64_t>(values.size()));
    for (const std::string& v : values) input->mutable_contents()->add_bytes_contents(v);
  }

  grpc::Status Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) {
    return stub_->ModelInfer(Context().get(), request, response);
  }

  std::unique_ptr<GenailabServer> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(KServeServiceTest, LivenessReadinessAndModelReadiness) {
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(Context().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());

  inference::ModelReadyRequest request;
  request.set_name("cond");
  inference::ModelReadyResponse model_ready;
  ASSERT_TRUE(stub_->ModelReady(Context().get(), request, &model_ready).ok());
  EXPECT_TRUE(model_ready.ready());
  request.set_version("3");
  ASSERT_TRUE(stub_->ModelReady(Context().get(), request, &model_ready).ok());
  EXPECT_TRUE(model_ready.ready());
  request.set_version("4");
  ASSERT_TRUE(stub_->ModelReady(Context().get(), request, &model_ready).ok());
  EXPECT_FALSE(model_ready.ready());
  request.set_name("absent");
  request.clear_version();
  ASSERT_TRUE(stub_->ModelReady(Context().get(), request, &model_ready).ok());
  EXPECT_FALSE(model_ready.ready());

  request.set_name("cond");
  request.set_version("latest");
  const grpc::Status bad = stub_->ModelReady(Context().get(), request, &model_ready);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("version: 'latest' is not a version number"));
}

TEST_F(KServeServiceTest, ModelMetadataListsTensorsWithShapesAndDatatypes) {
  inference::ModelMetadataRequest request;
  request.set_name("cond");
  inference::ModelMetadataResponse metadata;
  const grpc::Status status = stub_->ModelMetadata(Context().get(), request, &metadata);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(metadata.name(), "cond");
  EXPECT_EQ(metadata.platform(), "genailab_cvae");
  EXPECT_THAT(metadata.versions(), ElementsAre("3"));
  ASSERT_EQ(metadata.inputs_size(), 3);
  EXPECT_EQ(metadata.inputs(0).name(), "cells");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  EXPECT_THAT(metadata.inputs(0).shape(), ElementsAre(-1, 3));
  EXPECT_EQ(metadata.inputs(1).name(), "cell_type");
  EXPECT_EQ(metadata.inputs(1).datatype(), "BYTES");
  EXPECT_THAT(metadata.inputs(1).shape(), ElementsAre(-1));
  EXPECT_EQ(metadata.inputs(2).name(), "condition");
  ASSERT_EQ(metadata.outputs_size(), 2);
  EXPECT_EQ(metadata.outputs(0).name(), "latent_mean");
  EXPECT_THAT(metadata.outputs(0).shape(), ElementsAre(-1, 2));
  EXPECT_EQ(metadata.outputs(1).name(), "latent_variance");

  request.set_name("absent");
  EXPECT_EQ(stub_->ModelMetadata(Context().get(), request, &metadata).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KServeServiceTest, EncodeWithTypedContents) {
  inference::ModelInferResponse response;
  const grpc::Status status = Infer(EncodeRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "cond");
  EXPECT_EQ(response.model_version(), "3");
  EXPECT_EQ(response.id(), "req-1");
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "latent_mean");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(2, 2));
  // Fake encoder: mean[i][k] = row sum + k + cell_type code (A = 0, B = 1).
  EXPECT_THAT(response.outputs(0).contents().fp32_contents(), ElementsAre(6, 7, 2, 3));
  EXPECT_EQ(response.outputs(1).name(), "latent_variance");
  EXPECT_THAT(response.outputs(1).contents().fp32_contents(), ElementsAre(1, 1, 1, 1));
  EXPECT_EQ(response.raw_output_contents_size(), 0);
}

TEST_F(KServeServiceTest, ConcurrentInferenceCallsAllFinishWithTheirOwnResults) {
  // ModelInfer runs on the callback API: the batcher's worker finishes each call. Calls from several
  // threads at once must each get their own answer (cell_type B on odd calls changes the latent mean).
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t, &wrong] {
      for (int i = 0; i < 8; ++i) {
        inference::ModelInferRequest request = EncodeRequest();
        const bool b_first = (t + i) % 2 == 1;
        request.mutable_inputs(1)->mutable_contents()->set_bytes_contents(0, b_first ? "B" : "A");
        inference::ModelInferResponse response;
        const grpc::Status status = Infer(request, &response);
        const std::vector<float> expected = b_first ? std::vector<float>{7, 8, 2, 3} : std::vector<float>{6, 7, 2, 3};
        if (!status.ok() || response.outputs_size() != 2 ||
            std::vector<float>(response.outputs(0).contents().fp32_contents().begin(),
                               response.outputs(0).contents().fp32_contents().end()) != expected) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(KServeServiceTest, InferenceCallsAreCountedInTheRequestMetrics) {
  inference::ModelInferResponse response;
  ASSERT_TRUE(Infer(EncodeRequest(), &response).ok());
  inference::ModelInferRequest absent = EncodeRequest();
  absent.set_model_name("absent");
  EXPECT_EQ(Infer(absent, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  inference::ModelInferRequest bad_rpc = EncodeRequest();
  (*bad_rpc.mutable_parameters())["rpc"].set_string_param("nonsense");
  EXPECT_EQ(Infer(bad_rpc, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_GT(server_->metrics_port(), 0);
  auto metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_requests_total{code="OK",model="cond",rpc="ModelInfer"} 1)"));
  // Unknown model names stay out of the labels.
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_requests_total{code="NOT_FOUND",model="",rpc="ModelInfer"} 1)"));
  EXPECT_THAT(*metrics,
              HasSubstr(R"(genailab_requests_total{code="INVALID_ARGUMENT",model="cond",rpc="ModelInfer"} 1)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_cells_processed_total{model="cond",rpc="ModelInfer"} 2)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_request_duration_seconds_count{rpc="ModelInfer"} 3)"));
}

TEST_F(KServeServiceTest, EncodeWithRawContentsAnswersRawAndOnlyTheRequestedOutput) {
  inference::ModelInferRequest request = EncodeRequest();
  std::vector<float> values(request.inputs(0).contents().fp32_contents().begin(),
                            request.inputs(0).contents().fp32_contents().end());
  request.add_raw_input_contents(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  for (int i = 1; i < request.inputs_size(); ++i) {
    std::string raw;
    for (const std::string& element : request.inputs(i).contents().bytes_contents()) {
      const uint32_t length = static_cast<uint32_t>(element.size());
      raw.append(reinterpret_cast<const char*>(&length), 4);
      raw.append(element);
    }
    request.add_raw_input_contents(raw);
  }
  for (auto& input : *request.mutable_inputs()) input.clear_contents();
  request.add_outputs()->set_name("latent_mean");

  inference::ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "latent_mean");
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  ASSERT_EQ(response.raw_output_contents(0).size(), 4 * sizeof(float));
  std::vector<float> mean(4);
  std::memcpy(mean.data(), response.raw_output_contents(0).data(), 4 * sizeof(float));
  EXPECT_THAT(mean, ElementsAre(6, 7, 2, 3));
}

TEST_F(KServeServiceTest, GenerateDecodeAndPredictPerturbationSelectedByRpcParameter) {
  inference::ModelInferRequest generate;
  generate.set_model_name("cond");
  (*generate.mutable_parameters())["rpc"].set_string_param("generate");
  (*generate.mutable_parameters())["n_cells"].set_int64_param(2);
  (*generate.mutable_parameters())["seed"].set_int64_param(5);
  AddBytes(&generate, "cell_type", {"B"});
  AddBytes(&generate, "condition", {"stim"});
  inference::ModelInferResponse generated;
  grpc::Status status = Infer(generate, &generated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(generated.outputs_size(), 1);
  EXPECT_EQ(generated.outputs(0).name(), "cells");
  EXPECT_THAT(generated.outputs(0).shape(), ElementsAre(2, 3));
  // Fake generator: seed + gene index + cell_type code (B = 1).
  EXPECT_THAT(generated.outputs(0).contents().fp32_contents(), ElementsAre(6, 7, 8, 6, 7, 8));

  inference::ModelInferRequest decode;
  decode.set_model_name("cond");
  (*decode.mutable_parameters())["rpc"].set_string_param("decode");
  auto* latent = decode.add_inputs();
  latent->set_name("latent");
  latent->set_datatype("FP32");
  latent->add_shape(1);
  latent->add_shape(2);
  latent->mutable_contents()->add_fp32_contents(10);
  latent->mutable_contents()->add_fp32_contents(0);
  AddBytes(&decode, "cell_type", {"A"});
  AddBytes(&decode, "condition", {"ctrl"});
  inference::ModelInferResponse decoded;
  status = Infer(decode, &decoded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(decoded.outputs_size(), 1);
  EXPECT_EQ(decoded.outputs(0).name(), "expression");
  // Fake decoder: z[i][0] + gene index + cell_type code.
  EXPECT_THAT(decoded.outputs(0).contents().fp32_contents(), ElementsAre(10, 11, 12));

  inference::ModelInferRequest predict = EncodeRequest();
  predict.mutable_inputs()->RemoveLast();  // The condition comes from source_condition.
  (*predict.mutable_parameters())["rpc"].set_string_param("predict_perturbation");
  (*predict.mutable_parameters())["source_condition"].set_string_param("ctrl");
  (*predict.mutable_parameters())["target_condition"].set_string_param("stim");
  (*predict.mutable_parameters())["method"].set_string_param("counterfactual");
  inference::ModelInferResponse predicted;
  status = Infer(predict, &predicted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(predicted.outputs_size(), 1);
  EXPECT_EQ(predicted.outputs(0).name(), "cells");
  // Fake perturbation: x + (index of target - index of source) = x + 1.
  EXPECT_THAT(predicted.outputs(0).contents().fp32_contents(), ElementsAre(2, 3, 4, 1, 1, 2));
}

TEST_F(KServeServiceTest, RequestsThatBreakTheConventionsAreInvalidAndNameTheField) {
  inference::ModelInferResponse response;
  inference::ModelInferRequest request = EncodeRequest();
  (*request.mutable_parameters())["rpc"].set_string_param("train");
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("parameters[\"rpc\"]: unknown 'train'"));

  request = EncodeRequest();
  request.mutable_inputs(0)->set_shape(1, 4);
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs[\"cells\"].contents.fp32_contents: 6 values for shape of 8"));

  request = EncodeRequest();
  request.mutable_inputs(0)->set_shape(0, 3);
  request.mutable_inputs(0)->set_shape(1, 2);
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs[\"cells\"].shape: must be [n, 3], got [3, 2]"));

  request = EncodeRequest();
  request.add_outputs()->set_name("cells");
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("outputs: this rpc has no output 'cells'"));

  request = EncodeRequest();
  request.mutable_inputs(1)->set_datatype("INT32");
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs[\"cell_type\"].datatype: 'INT32' is not supported"));

  request = EncodeRequest();
  request.set_model_name("../etc");
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("model.name"));

  request = EncodeRequest();
  request.set_model_name("absent");
  EXPECT_EQ(Infer(request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// The service's own draining, driven directly (GenailabServer::Shutdown calls StopAccepting before it
// closes the port).
TEST(KServeServiceDrainTest, AfterStopAcceptingNotReadyAndInferenceUnavailable) {
  const fs::path root = fs::path(std::getenv("TEST_TMPDIR")) / "drain";
  fs::remove_all(root);
  WriteFakeVersion(root.string(), FakeConditionalManifest("cond", 1));
  ModelManager::Options manager_options;
  manager_options.repository_root = root.string();
  manager_options.device = "cpu";
  manager_options.loader = FakeModelLoader();
  auto manager = ModelManager::Create(std::move(manager_options));
  ASSERT_THAT(manager, IsOk());
  ASSERT_THAT((*manager)->LoadNewest(), IsOk());
  auto core = GenerativeCore::Create(manager->get());
  ASSERT_THAT(core, IsOk());
  KServeService service(core->get(), /*metrics=*/nullptr);
  // ModelInfer runs on the callback API, so it is called through a real server (loopback, any port).
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  grpc::ServerContext context;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(service.ServerReady(&context, nullptr, &ready).ok());
  EXPECT_TRUE(ready.ready());

  service.StopAccepting();
  ASSERT_TRUE(service.ServerReady(&context, nullptr, &ready).ok());
  EXPECT_FALSE(ready.ready());
  inference::ModelReadyRequest model_request;
  model_request.set_name("cond");
  inference::ModelReadyResponse model_ready;
  ASSERT_TRUE(service.ModelReady(&context, &model_request, &model_ready).ok());
  EXPECT_FALSE(model_ready.ready());
  inference::ModelInferRequest infer;
  infer.set_model_name("cond");
  inference::ModelInferResponse response;
  grpc::ClientContext infer_context;
  const grpc::Status refused = stub->ModelInfer(&infer_context, infer, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("shutting down"));
  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name("cond");
  inference::ModelMetadataResponse metadata;
  const grpc::Status metadata_refused = service.ModelMetadata(&context, &metadata_request, &metadata);
  EXPECT_EQ(metadata_refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  inference::ServerLiveResponse live;
  ASSERT_TRUE(service.ServerLive(&context, nullptr, &live).ok());
  EXPECT_TRUE(live.live());
  EXPECT_TRUE(service.WaitIdle(absl::Now()));
  server->Shutdown();
}

}  // namespace
}  // namespace genailab
