#include "server/grpc/genailab_server.h"

#include <cstdlib>
#include <filesystem>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/matrix_codec.h"
#include "data/status_matchers.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/testing/fake_generative_model.h"
#include "server/testing/health_check.grpc.pb.h"
#include "server/testing/http_get.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GenailabServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(std::getenv("TEST_TMPDIR")) /
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 1));
  }

  GenailabServer::Options TestOptions() const {
    GenailabServer::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "127.0.0.1:0";
    options.repository_root = root_.string();
    options.device = "cpu";
    options.max_cells_per_request = 100;
    options.loader = FakeModelLoader();
    return options;
  }

  void StartServer(GenailabServer::Options options) {
    auto server = GenailabServer::Create(std::move(options));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    ASSERT_THAT(server_->Start(), IsOk());
    ASSERT_GT(server_->grpc_port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::GenerativeService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::Now() + absl::Seconds(5));
      server_->Wait();
    }
  }

  // The health status of `service`, or the RPC's error code as a negative number.
  int Health(const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    const grpc::Status status = health_->Check(&context, request, &response);
    if (!status.ok()) return -static_cast<int>(status.error_code());
    return response.status();
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  fs::path root_;
  std::unique_ptr<GenailabServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GenerativeService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(GenailabServerTest, ServesEveryRpcOverARealChannel) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));

  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(Context().get(), {}, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).name(), "cond");

  v1::GetModelRequest get;
  get.mutable_model()->set_name("cond");
  v1::GetModelResponse info;
  ASSERT_TRUE(stub_->GetModel(Context().get(), get, &info).ok());
  EXPECT_THAT(info.model().conditions(), ElementsAre("ctrl", "stim"));

  DenseMatrix x(2, 3);
  x.values = {1, 2, 3, 4, 5, 6};
  v1::EncodeRequest encode;
  encode.mutable_model()->set_name("cond");
  MatrixToProto(x, {"g0", "g1", "g2"}, /*sparse=*/true, encode.mutable_cells());
  for (const auto& [name, values] : std::map<std::string, std::vector<std::string>>{
           {"cell_type", {"A", "B"}}, {"condition", {"ctrl", "ctrl"}}}) {
    v1::CovariateColumn* column = encode.add_covariates();
    column->set_name(name);
    for (const auto& v : values) column->add_values(v);
  }
  v1::EncodeResponse encoded;
  const grpc::Status encode_status = stub_->Encode(Context().get(), encode, &encoded);
  ASSERT_TRUE(encode_status.ok()) << encode_status.error_message();
  EXPECT_EQ(encoded.latent_mean().rows(), 2);
  EXPECT_THAT(encoded.latent_mean().column_names(), ElementsAre("z0", "z1"));

  v1::DecodeRequest decode;
  decode.mutable_model()->set_name("cond");
  *decode.mutable_latent() = encoded.latent_mean();
  *decode.mutable_covariates() = encode.covariates();
  v1::DecodeResponse decoded;
  ASSERT_TRUE(stub_->Decode(Context().get(), decode, &decoded).ok());
  EXPECT_THAT(decoded.expression().column_names(), ElementsAre("g0", "g1", "g2"));

  v1::GenerateRequest generate;
  generate.mutable_model()->set_name("cond");
  v1::GenerationGroup* group = generate.add_groups();
  (*group->mutable_covariates())["cell_type"] = "A";
  (*group->mutable_covariates())["condition"] = "stim";
  group->set_n_cells(4);
  v1::GenerateResponse generated;
  ASSERT_TRUE(stub_->Generate(Context().get(), generate, &generated).ok());
  EXPECT_EQ(generated.cells().rows(), 4);

  v1::PredictPerturbationRequest predict;
  predict.mutable_model()->set_name("cond");
  *predict.mutable_cells() = encode.cells();
  *predict.add_covariates() = encode.covariates(0);
  predict.set_source_condition("ctrl");
  predict.set_target_condition("stim");
  v1::PredictPerturbationResponse predicted;
  ASSERT_TRUE(stub_->PredictPerturbation(Context().get(), predict, &predicted).ok());
  EXPECT_EQ(predicted.cells().rows(), 2);
  EXPECT_EQ(predicted.method(), v1::PERTURBATION_METHOD_COUNTERFACTUAL);

  // Errors keep their code and message across the wire.
  get.mutable_model()->set_name("nope");
  grpc::Status status = stub_->GetModel(Context().get(), get, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("model 'nope'"));
  predict.set_target_condition("heat");
  status = stub_->PredictPerturbation(Context().get(), predict, &predicted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("target_condition"));

  ASSERT_GT(server_->metrics_port(), 0);
  auto metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(*metrics, HasSubstr("200 OK"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_requests_total{code="OK",model="cond",rpc="Encode"} 1)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_requests_total{code="NOT_FOUND",model="",rpc="GetModel"} 1)"));
  EXPECT_THAT(*metrics,
              HasSubstr(R"(genailab_requests_total{code="INVALID_ARGUMENT",model="cond",rpc="PredictPerturbation"} 1)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_cells_processed_total{model="cond",rpc="Generate"} 4)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_request_duration_seconds_count{rpc="Encode"} 1)"));
  EXPECT_THAT(*metrics, HasSubstr(R"(genailab_model_loaded{model="cond",version="1"} 1)"));
}

TEST_F(GenailabServerTest, ReportsHealthPerServiceAndModel) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("genailab.v1.GenerativeService"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("genailab.model.cond"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("genailab.model.nope"), -static_cast<int>(grpc::StatusCode::NOT_FOUND));

  server_->Shutdown(absl::Now() + absl::Seconds(5));
  server_->Wait();
  server_.reset();
}

TEST_F(GenailabServerTest, PolledVersionsAndModelsBecomeServing) {
  GenailabServer::Options options = TestOptions();
  options.poll_interval = absl::Milliseconds(10);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  WriteFakeVersion(root_.string(), FakeManifest("later", 1));
  int status = -1;
  for (int i = 0; i < 1000 && status != HealthCheckResponse::SERVING; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    status = Health("genailab.model.later");
  }
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
}

TEST_F(GenailabServerTest, MetricsCanBeTurnedOff) {
  GenailabServer::Options options = TestOptions();
  options.metrics_address.clear();
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  EXPECT_EQ(server_->metrics_port(), 0);
  v1::ListModelsResponse list;
  EXPECT_TRUE(stub_->ListModels(Context().get(), {}, &list).ok());
}

TEST_F(GenailabServerTest, CreateAndStartReportBadConfiguration) {
  GenailabServer::Options options = TestOptions();
  options.repository_root = (root_ / "absent").string();
  EXPECT_THAT(GenailabServer::Create(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
  options = TestOptions();
  options.max_message_bytes = 0;
  EXPECT_THAT(GenailabServer::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_message_bytes")));
  options = TestOptions();
  options.grpc_address = "256.1.1.1:1";
  auto server = GenailabServer::Create(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->Start(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("grpc_address")));
}

TEST_F(GenailabServerTest, HonoursMaxMessageBytes) {
  GenailabServer::Options options = TestOptions();
  options.max_message_bytes = 1024;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  v1::EncodeRequest encode;
  encode.mutable_model()->set_name("cond");
  DenseMatrix x(100, 3);
  MatrixToProto(x, {"g0", "g1", "g2"}, /*sparse=*/false, encode.mutable_cells());
  v1::EncodeResponse encoded;
  const grpc::Status status = stub_->Encode(Context().get(), encode, &encoded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace genailab
