#include "server/grpc/genailab_server.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/matrix_codec.h"
#include "data/status_matchers.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/testing/fake_generative_model.h"
#include "server/testing/health_check.grpc.pb.h"
#include "common/http/http_get.h"

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
    root_ = FreshTestRepository();
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
  options.max_batch_cells = 0;
  EXPECT_THAT(GenailabServer::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_batch_cells must be positive")));
  options = TestOptions();
  options.instances_per_device = 0;
  EXPECT_THAT(GenailabServer::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("instances_per_device")));
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

// A fake whose Generate blocks until released, to hold a call in flight.
struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

class GatedModel : public FakeGenerativeModel {
 public:
  // `seed_7_runs` (may be null) counts the Generate calls seeded 7.
  GatedModel(ModelManifest manifest, Gate* gate, std::atomic<int>* seed_7_runs = nullptr)
      : FakeGenerativeModel(std::move(manifest)), gate_(gate), seed_7_runs_(seed_7_runs) {}
  absl::StatusOr<DenseMatrix> Generate(int64_t n, const CovariateCodes& covariates, uint64_t seed, float library_size,
                                       bool sample_counts) const override {
    if (seed == 42) {  // only the held request; warm-up and others pass
      gate_->entered.Notify();
      gate_->release.WaitForNotification();
    }
    if (seed == 7 && seed_7_runs_ != nullptr) ++*seed_7_runs_;
    return FakeGenerativeModel::Generate(n, covariates, seed, library_size, sample_counts);
  }

 private:
  Gate* const gate_;
  std::atomic<int>* const seed_7_runs_;
};

// `options` with the fake model wrapped in a GatedModel on `gate` (seed_7_runs as GatedModel's).
GenailabServer::Options WithGatedModel(GenailabServer::Options options, Gate* gate,
                                       std::atomic<int>* seed_7_runs = nullptr) {
  const ModelLoader fake = FakeModelLoader();
  options.loader = [gate, seed_7_runs, fake](const std::string& dir, const std::string& device)
      -> absl::StatusOr<std::unique_ptr<GenerativeModel>> {
    auto model = fake(dir, device);
    if (!model.ok()) return model.status();
    return std::unique_ptr<GenerativeModel>(new GatedModel((*model)->manifest(), gate, seed_7_runs));
  };
  return options;
}

v1::GenerateRequest CondGenerate(uint64_t seed, int64_t n) {
  v1::GenerateRequest generate;
  generate.mutable_model()->set_name("cond");
  generate.set_seed(seed);
  v1::GenerationGroup* group = generate.add_groups();
  (*group->mutable_covariates())["cell_type"] = "A";
  (*group->mutable_covariates())["condition"] = "stim";
  group->set_n_cells(n);
  return generate;
}

TEST_F(GenailabServerTest, ShutdownGoesNotServingRefusesNewCallsAndDrainsAcceptedOnes) {
  Gate gate;
  GenailabServer::Options options = WithGatedModel(TestOptions(), &gate);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  // An accepted call, held inside the model.
  grpc::Status held_status;
  v1::GenerateResponse held;
  std::thread client([&] {
    held_status = stub_->Generate(Context().get(), CondGenerate(42, 3), &held);
  });
  gate.entered.WaitForNotification();
  std::thread stopper([&] { server_->Shutdown(absl::Now() + absl::Seconds(30)); });
  // Readiness goes NOT_SERVING at once, and new calls are refused while the held one drains.
  int health = HealthCheckResponse::SERVING;
  for (int i = 0; i < 1000 && health == HealthCheckResponse::SERVING; ++i) {
    health = Health("");
    if (health == HealthCheckResponse::SERVING) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(health, HealthCheckResponse::NOT_SERVING);
  v1::GenerateResponse refused;
  const grpc::Status refused_status = stub_->Generate(Context().get(), CondGenerate(1, 1), &refused);
  EXPECT_EQ(refused_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused_status.error_message(), HasSubstr("shutting down"));
  gate.release.Notify();
  client.join();
  stopper.join();
  ASSERT_TRUE(held_status.ok()) << held_status.error_message();
  EXPECT_EQ(held.cells().rows(), 3);
  server_->Wait();
  server_.reset();
}

TEST_F(GenailabServerTest, GenerateStreamSendsChunksEqualToUnaryGenerate) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));
  v1::GenerateResponse unary;
  ASSERT_TRUE(stub_->Generate(Context().get(), CondGenerate(9, 10), &unary).ok());
  v1::GenerateStreamRequest request;
  *request.mutable_request() = CondGenerate(9, 10);
  request.set_chunk_cells(4);
  auto context = Context();
  auto reader = stub_->GenerateStream(context.get(), request);
  v1::GenerateResponse chunk;
  std::vector<int64_t> rows;
  std::vector<float> values;
  while (reader->Read(&chunk)) {
    rows.push_back(chunk.cells().rows());
    values.insert(values.end(), chunk.cells().dense().values().begin(), chunk.cells().dense().values().end());
  }
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(rows, ElementsAre(4, 4, 2));
  EXPECT_THAT(values, ::testing::ElementsAreArray(unary.cells().dense().values()));
}

// Threads of this process (the server runs in it), from /proc/self/status.
int ProcessThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
  }
  return -1;
}

// The value of the metric line that starts with `series` (name and labels), or -1.
double MetricValue(int port, const std::string& series) {
  absl::StatusOr<std::string> page = HttpGet(port, "/metrics");
  if (!page.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*page, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double value = -1;
    return absl::SimpleAtod(line.substr(series.size() + 1), &value) ? value : -1;
  }
  return -1;
}

// Polls MetricValue(port, series) until it equals `expected` (for up to 10 s); returns the last value.
double AwaitMetric(int port, const std::string& series, double expected) {
  double value = MetricValue(port, series);
  for (int i = 0; i < 1000 && value != expected; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    value = MetricValue(port, series);
  }
  return value;
}

TEST_F(GenailabServerTest, StreamsWaitingForTheModelParkNoHandlerThread) {
  Gate gate;
  GenailabServer::Options options = WithGatedModel(TestOptions(), &gate);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  // One stream holds the model's only instance; the others queue behind it.
  constexpr int kQueued = 32;
  v1::GenerateStreamRequest request;
  *request.mutable_request() = CondGenerate(42, 3);
  auto held_context = Context();
  auto held = stub_->GenerateStream(held_context.get(), request);
  gate.entered.WaitForNotification();
  const int threads_before = ProcessThreads();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>>> readers;
  for (int i = 0; i < kQueued; ++i) {
    *request.mutable_request() = CondGenerate(100 + i, 3);
    contexts.push_back(Context());
    readers.push_back(stub_->GenerateStream(contexts.back().get(), request));
  }
  // Every stream has reached the server: the held block and kQueued queued ones are pending.
  ASSERT_EQ(AwaitMetric(server_->metrics_port(), R"(genailab_pending_requests{model="cond"})", kQueued + 1),
            kQueued + 1);
  // A synchronous handler would hold a thread per waiting stream.
  EXPECT_LT(ProcessThreads() - threads_before, kQueued / 2);
  gate.release.Notify();
  readers.push_back(std::move(held));
  for (auto& reader : readers) {
    v1::GenerateResponse message;
    int64_t cells = 0;
    while (reader->Read(&message)) cells += message.cells().rows();
    const grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(cells, 3);
  }
}

TEST_F(GenailabServerTest, AStreamWhoseClientGoesAwayEndsCancelledAndLeavesNothingRunning) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));
  // Far more cells than the client reads: a message per cell.
  v1::GenerateStreamRequest request;
  *request.mutable_request() = CondGenerate(9, 200000);
  request.set_chunk_cells(1);
  grpc::ClientContext context;
  auto reader = stub_->GenerateStream(&context, request);
  v1::GenerateResponse message;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&message));
  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server ends the call as CANCELLED and counts no cells for it.
  EXPECT_EQ(AwaitMetric(server_->metrics_port(),
                        R"(genailab_requests_total{code="CANCELLED",model="cond",rpc="GenerateStream"})", 1),
            1);
  EXPECT_EQ(MetricValue(server_->metrics_port(), R"(genailab_cells_processed_total{model="cond",rpc="GenerateStream"})"),
            -1);
  // Nothing of the stream is left queued or running (the block being made when the client left may
  // still finish), and the server still answers.
  EXPECT_EQ(AwaitMetric(server_->metrics_port(), R"(genailab_pending_requests{model="cond"})", 0), 0);
  v1::GenerateResponse later;
  EXPECT_TRUE(stub_->Generate(Context().get(), CondGenerate(8, 1), &later).ok());
}

TEST_F(GenailabServerTest, LoadModelAndUnloadModelRpcsReportVersions) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));
  WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 2));
  v1::LoadModelRequest load;
  load.mutable_model()->set_name("cond");
  v1::LoadModelResponse loaded;
  grpc::Status status = stub_->LoadModel(Context().get(), load, &loaded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(loaded.model().version(), 2);
  EXPECT_THAT(loaded.model().loaded_versions(), ElementsAre(1, 2));

  v1::UnloadModelRequest unload;
  unload.mutable_model()->set_name("cond");
  unload.mutable_model()->set_version(1);
  v1::UnloadModelResponse unloaded;
  status = stub_->UnloadModel(Context().get(), unload, &unloaded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::GetModelRequest get;
  get.mutable_model()->set_name("cond");
  v1::GetModelResponse info;
  ASSERT_TRUE(stub_->GetModel(Context().get(), get, &info).ok());
  EXPECT_THAT(info.model().loaded_versions(), ElementsAre(2));
  ASSERT_EQ(info.model().versions_size(), 2);
  EXPECT_EQ(info.model().versions(0).version(), 1);
  EXPECT_THAT(info.model().versions(0).state(),
              ::testing::AnyOf(v1::VersionStatus::DRAINING, v1::VersionStatus::UNLOADED));
  EXPECT_EQ(info.model().versions(1).state(), v1::VersionStatus::AVAILABLE);

  load.mutable_model()->set_name("../outside");
  status = stub_->LoadModel(Context().get(), load, &loaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GenailabServerTest, FullQueueAnswersResourceExhaustedWithRetryAfterMetadata) {
  Gate gate;
  GenailabServer::Options options = WithGatedModel(TestOptions(), &gate);
  options.max_queue_requests = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  v1::GenerateResponse held;
  grpc::Status held_status;
  std::thread running([&] { held_status = stub_->Generate(Context().get(), CondGenerate(42, 1), &held); });
  gate.entered.WaitForNotification();
  // The running batch is out of the queue. The first request below fills the queue (and expires in
  // it, client-side); the next one finds it full.
  grpc::Status refused;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    v1::GenerateResponse response;
    refused = stub_->Generate(&context, CondGenerate(2, 1), &response);
    if (i == 0) {
      EXPECT_EQ(refused.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
      continue;
    }
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto hint = trailers.find("retry-after-ms");
    ASSERT_NE(hint, trailers.end());
    EXPECT_GE(std::stoi(std::string(hint->second.data(), hint->second.size())), 1);
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("is full"));
  gate.release.Notify();
  running.join();
  EXPECT_TRUE(held_status.ok()) << held_status.error_message();
}

TEST_F(GenailabServerTest, ACallCancelledWhileQueuedNeverReachesTheModel) {
  Gate gate;
  std::atomic<int> seed_7_runs{0};
  GenailabServer::Options options = WithGatedModel(TestOptions(), &gate, &seed_7_runs);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  v1::GenerateResponse held;
  grpc::Status held_status;
  std::thread running([&] { held_status = stub_->Generate(Context().get(), CondGenerate(42, 1), &held); });
  gate.entered.WaitForNotification();
  // Queued behind the held batch, then cancelled by the client (no deadline: the cancellation alone
  // must keep it from the model).
  grpc::ClientContext cancelled_context;
  grpc::Status cancelled_status;
  std::thread cancelled([&] {
    v1::GenerateResponse response;
    cancelled_status = stub_->Generate(&cancelled_context, CondGenerate(7, 1), &response);
  });
  absl::SleepFor(absl::Milliseconds(200));
  cancelled_context.TryCancel();
  cancelled.join();
  EXPECT_EQ(cancelled_status.error_code(), grpc::StatusCode::CANCELLED);
  absl::SleepFor(absl::Milliseconds(300));  // for the server to see the cancellation
  gate.release.Notify();
  running.join();
  EXPECT_TRUE(held_status.ok()) << held_status.error_message();
  // A later call passes through the same queue, after the cancelled one.
  v1::GenerateResponse later;
  EXPECT_TRUE(stub_->Generate(Context().get(), CondGenerate(8, 1), &later).ok());
  EXPECT_EQ(seed_7_runs.load(), 0);
}

TEST_F(GenailabServerTest, ServesTheLatentExplorationRpcs) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TestOptions()));
  v1::TraverseLatentRequest traverse;
  traverse.mutable_model()->set_name("cond");
  traverse.set_steps(3);
  (*traverse.mutable_covariates())["cell_type"] = "B";
  (*traverse.mutable_covariates())["condition"] = "ctrl";
  v1::TraverseLatentResponse traversed;
  const grpc::Status traverse_status = stub_->TraverseLatent(Context().get(), traverse, &traversed);
  ASSERT_TRUE(traverse_status.ok()) << traverse_status.error_message();
  EXPECT_EQ(traversed.expression().rows(), 3);
  EXPECT_THAT(traversed.values(), ElementsAre(-3.0f, 0.0f, 3.0f));

  // The fake model keeps GenerativeModel's UNIMPLEMENTED DecodeMixed.
  v1::InterpolateRequest blend;
  blend.mutable_model()->set_name("cond");
  blend.set_steps(2);
  (*blend.mutable_covariates())["condition"] = "ctrl";
  blend.mutable_covariate_path()->set_covariate("cell_type");
  blend.mutable_covariate_path()->set_from_value("A");
  blend.mutable_covariate_path()->set_to_value("B");
  v1::InterpolateResponse blended;
  const grpc::Status blend_status = stub_->Interpolate(Context().get(), blend, &blended);
  EXPECT_EQ(blend_status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(blend_status.error_message(), HasSubstr("mixed covariates"));
}

}  // namespace
}  // namespace genailab
