// Per-model readiness over the wire: grpc.health.v1 "genailab.model.<name>" and KServe ModelReady follow
// the versions the ModelManager serves, through LoadModel / UnloadModel, on a real loopback server.
#include <chrono>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "data/status_matchers.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kserve/grpc_predict_v2.grpc.pb.h"
#include "server/grpc/genailab_server.h"
#include "server/testing/fake_generative_model.h"
#include "server/testing/health_check.grpc.pb.h"

namespace genailab {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr int kServing = HealthCheckResponse::SERVING;
constexpr int kNotServing = HealthCheckResponse::NOT_SERVING;

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

class ModelHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestRepository();
    WriteFakeVersion(root_, FakeConditionalManifest("cond", 1));
    WriteFakeVersion(root_, FakeManifest("other", 1));
  }

  void StartServer(absl::Duration poll_interval = absl::ZeroDuration()) {
    GenailabServer::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address.clear();
    options.repository_root = root_;
    options.device = "cpu";
    options.loader = FakeModelLoader();
    options.poll_interval = poll_interval;
    auto server = GenailabServer::Create(std::move(options));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    ASSERT_THAT(server_->Start(), IsOk());
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = v1::GenerativeService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
    kserve_ = inference::GRPCInferenceService::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::Now() + absl::Seconds(5));
      server_->Wait();
    }
  }

  // The health status of "genailab.model.<model>", or the RPC's error code as a negative number.
  int ModelHealth(const std::string& model) {
    HealthCheckRequest request;
    request.set_service(absl::StrCat("genailab.model.", model));
    HealthCheckResponse response;
    const grpc::Status status = health_->Check(Context().get(), request, &response);
    if (!status.ok()) return -static_cast<int>(status.error_code());
    return response.status();
  }

  // KServe ModelReady; fails the test if the RPC itself fails.
  bool ModelReady(const std::string& model, const std::string& version = "") {
    inference::ModelReadyRequest request;
    request.set_name(model);
    request.set_version(version);
    inference::ModelReadyResponse response;
    const grpc::Status status = kserve_->ModelReady(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.ready();
  }

  grpc::Status Load(const std::string& model, int64_t version) {
    v1::LoadModelRequest request;
    request.mutable_model()->set_name(model);
    request.mutable_model()->set_version(version);
    v1::LoadModelResponse response;
    return stub_->LoadModel(Context().get(), request, &response);
  }

  grpc::Status Unload(const std::string& model, int64_t version) {
    v1::UnloadModelRequest request;
    request.mutable_model()->set_name(model);
    request.mutable_model()->set_version(version);
    v1::UnloadModelResponse response;
    return stub_->UnloadModel(Context().get(), request, &response);
  }

  grpc::Status Generate(const std::string& model) {
    v1::GenerateRequest request;
    request.mutable_model()->set_name(model);
    v1::GenerationGroup* group = request.add_groups();
    (*group->mutable_covariates())["cell_type"] = "A";
    (*group->mutable_covariates())["condition"] = "stim";
    group->set_n_cells(2);
    v1::GenerateResponse response;
    return stub_->Generate(Context().get(), request, &response);
  }

  std::string root_;
  std::unique_ptr<GenailabServer> server_;
  std::unique_ptr<v1::GenerativeService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> kserve_;
};

TEST_F(ModelHealthTest, UnloadingEveryVersionGoesNotServingAndLoadingOneGoesServingAgain) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(ModelHealth("cond"), kServing);
  EXPECT_TRUE(ModelReady("cond"));

  // Two versions served; retiring one of them leaves the model ready.
  WriteFakeVersion(root_, FakeConditionalManifest("cond", 2));
  ASSERT_TRUE(Load("cond", 2).ok());
  ASSERT_TRUE(Unload("cond", 1).ok());
  EXPECT_EQ(ModelHealth("cond"), kServing);
  EXPECT_TRUE(ModelReady("cond"));
  EXPECT_FALSE(ModelReady("cond", "1"));
  EXPECT_TRUE(ModelReady("cond", "2"));

  // Retiring the last one flips health and readiness, before UnloadModel returns; other models stay.
  ASSERT_TRUE(Unload("cond", 2).ok());
  EXPECT_EQ(ModelHealth("cond"), kNotServing);
  EXPECT_FALSE(ModelReady("cond"));
  EXPECT_FALSE(ModelReady("cond", "2"));
  EXPECT_EQ(Generate("cond").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ModelHealth("other"), kServing);
  EXPECT_TRUE(ModelReady("other"));

  // Loading a version again brings both back.
  ASSERT_TRUE(Load("cond", 1).ok());
  EXPECT_EQ(ModelHealth("cond"), kServing);
  EXPECT_TRUE(ModelReady("cond"));
  EXPECT_TRUE(ModelReady("cond", "1"));
  EXPECT_TRUE(Generate("cond").ok());

  // UnloadModel(version 0) retires every version at once.
  ASSERT_TRUE(Load("cond", 2).ok());
  ASSERT_TRUE(Unload("cond", 0).ok());
  EXPECT_EQ(ModelHealth("cond"), kNotServing);
  EXPECT_FALSE(ModelReady("cond"));
  ASSERT_TRUE(Load("cond", 0).ok());
  EXPECT_EQ(ModelHealth("cond"), kServing);
  EXPECT_TRUE(ModelReady("cond"));
}

TEST_F(ModelHealthTest, PollingDoesNotBringBackAModelUnloadedByTheRpc) {
  ASSERT_NO_FATAL_FAILURE(StartServer(absl::Milliseconds(5)));
  ASSERT_TRUE(Unload("other", 0).ok());
  EXPECT_EQ(ModelHealth("other"), kNotServing);
  // A new version on disk is not served either (the model is out of its policy), so health stays
  // NOT_SERVING across polls; a LoadModel of it makes the model SERVING again.
  WriteFakeVersion(root_, FakeManifest("other", 2));
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
    ASSERT_EQ(ModelHealth("other"), kNotServing) << "poll " << i;
  }
  EXPECT_FALSE(ModelReady("other"));
  ASSERT_TRUE(Load("other", 2).ok());
  EXPECT_EQ(ModelHealth("other"), kServing);
  EXPECT_TRUE(ModelReady("other", "2"));
  EXPECT_EQ(ModelHealth("cond"), kServing);
}

}  // namespace
}  // namespace genailab
