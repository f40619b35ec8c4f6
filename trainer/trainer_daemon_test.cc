#include "trainer/trainer_daemon.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/http/http_get.h"
#include "common/security/channel_security.h"
#include "common/security/testing/test_pki.h"
#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "genailab/v1/trainer_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

class TrainerDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::getenv("TEST_TMPDIR");
    SyntheticOptions synthetic;
    synthetic.n_genes = 30;
    synthetic.n_cell_types = 2;
    synthetic.n_batches = 1;
    synthetic.cells_per_group = 20;
    synthetic.n_shared_response_genes = 4;
    synthetic.n_specific_response_genes = 2;
    data_path_ = tmp_ + "/cells.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path_, GenerateSyntheticDataset(synthetic).value()).ok());

    TrainerDaemon::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "127.0.0.1:0";
    options.state_directory = tmp_ + "/state";
    options.repository = tmp_ + "/repository";
    options.spool_directory = tmp_ + "/spool";
    options.spool_poll_interval = absl::Milliseconds(50);
    options.default_threads = 1;
    daemon_ = TrainerDaemon::Create(options).value();
    stub_ = v1::TrainerService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", daemon_->grpc_port()),
                                                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override { daemon_->Shutdown(); }

  std::string SpecJson(const std::string& model, const std::string& extra) const {
    return absl::StrCat(R"({"data_path": ")", data_path_, R"(", "model_type": "vae", "latent_dim": 3,
        "hidden_dims": [8], "training": {"epochs": 2, "batch_size": 32}, "model_name": ")", model, "\"", extra,
                        "}");
  }

  // Watches `job_id` to its end and returns the final job.
  v1::Job WatchToEnd(const std::string& job_id, std::vector<v1::JobProgress>* updates) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    auto reader = stub_->WatchJob(&context, request);
    v1::JobProgress progress;
    while (reader->Read(&progress)) updates->push_back(progress);
    EXPECT_TRUE(reader->Finish().ok());
    grpc::ClientContext get_context;
    v1::GetJobRequest get;
    get.set_job_id(job_id);
    v1::Job job;
    EXPECT_TRUE(stub_->GetJob(&get_context, get, &job).ok());
    return job;
  }

  std::string tmp_;
  std::string data_path_;
  std::unique_ptr<TrainerDaemon> daemon_;
  std::unique_ptr<v1::TrainerService::Stub> stub_;
};

TEST_F(TrainerDaemonTest, InvalidSpecIsRefusedAtSubmissionNamingTheField) {
  v1::SubmitJobRequest request;
  request.mutable_spec()->set_data_path(data_path_);
  request.mutable_spec()->set_model_name("pbmc");
  request.mutable_spec()->set_model_type("vae");
  request.mutable_spec()->mutable_training()->set_batch_size(0);
  grpc::ClientContext context;
  v1::Job job;
  const grpc::Status status = stub_->SubmitJob(&context, request, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("batch_size"));

  request.mutable_spec()->mutable_training()->clear_batch_size();
  request.mutable_spec()->set_data_path(tmp_ + "/missing.h5ad");
  grpc::ClientContext missing_context;
  const grpc::Status missing = stub_->SubmitJob(&missing_context, request, &job);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("data_path"));

  // The daemon runs on cpu only (its default --devices).
  request.mutable_spec()->set_data_path(data_path_);
  request.mutable_spec()->mutable_training()->set_device("cuda:0");
  grpc::ClientContext device_context;
  const grpc::Status device = stub_->SubmitJob(&device_context, request, &job);
  EXPECT_EQ(device.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(device.error_message(), HasSubstr("training.device: 'cuda:0' is not a device of this trainer"));
}

TEST_F(TrainerDaemonTest, SpoolFileTrainsAndPublishesAndAGatedJobDoesNotPublish) {
  std::ofstream(tmp_ + "/spool/job.json") << SpecJson("small", "");
  std::string job_id;
  for (int i = 0; i < 400 && job_id.empty(); ++i) {
    std::ifstream in(tmp_ + "/spool/accepted/job.json.job");
    std::getline(in, job_id);
    if (job_id.empty()) absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_EQ(job_id, "job-000001");
  std::vector<v1::JobProgress> updates;
  const v1::Job done = WatchToEnd(job_id, &updates);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.message();
  EXPECT_EQ(done.source(), "spool:job.json");
  EXPECT_EQ(done.published_version(), 1);
  EXPECT_TRUE(std::filesystem::exists(tmp_ + "/repository/small/1/manifest.json"));
  EXPECT_EQ(done.metrics().at("epochs"), 2.0);
  EXPECT_EQ(done.device(), "cpu");
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(updates.back().epoch(), 2);
  EXPECT_EQ(updates.back().device(), "cpu");

  // A gate no model can pass: trained, kept, not published.
  v1::SubmitJobRequest request;
  request.mutable_spec()->set_data_path(data_path_);
  request.mutable_spec()->set_model_name("small");
  request.mutable_spec()->set_model_type("vae");
  request.mutable_spec()->mutable_training()->set_epochs(1);
  request.mutable_spec()->mutable_quality_gate()->set_max_value(-1e12);
  grpc::ClientContext context;
  v1::Job gated;
  ASSERT_TRUE(stub_->SubmitJob(&context, request, &gated).ok());
  gated = WatchToEnd(gated.id(), &updates);
  EXPECT_EQ(gated.state(), v1::JOB_STATE_GATED);
  EXPECT_THAT(gated.message(), HasSubstr("validation_loss"));
  EXPECT_TRUE(std::filesystem::exists(gated.job_directory() + "/gated_model/manifest.json"));
  EXPECT_TRUE(std::filesystem::exists(gated.job_directory() + "/training.ckpt"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ + "/repository/small/2"));

  const std::string metrics = HttpGet(daemon_->metrics_port(), "/metrics").value();
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_jobs{state=\"succeeded\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_jobs{state=\"gated\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_gated_total 1"));
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_publish_duration_seconds_count 1"));
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_cells_per_second{job_id=\"job-000001\"}"));
}

// ListJobs through a channel with `security`; the RPC's status.
grpc::Status ListJobsWith(int port, const ChannelSecurityOptions& security) {
  auto stub = v1::TrainerService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), MakeChannelCredentials(security).value()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListJobsResponse response;
  return stub->ListJobs(&context, v1::ListJobsRequest(), &response);
}

TEST(TrainerDaemonSecurityTest, TlsWithTokensRefusesPlaintextAndWrongTokensAndAcceptsTheRightOne) {
  const std::string tmp = std::string(std::getenv("TEST_TMPDIR")) + "/secure";
  const TestPki pki = CreateTestPki(tmp + "/pki").value();
  std::ofstream(tmp + "/tokens") << "# the trainer's clients\nright-token\n";
  std::ofstream(tmp + "/wrong") << "wrong-token\n";
  std::ofstream(tmp + "/right") << "right-token\n";

  TrainerDaemon::Options options;
  options.grpc_address = "127.0.0.1:0";
  options.state_directory = tmp + "/state";
  options.repository = tmp + "/repository";
  options.security.tls_cert_file = pki.server_cert;
  options.security.tls_key_file = pki.server_key;
  options.security.token_file = tmp + "/tokens";
  std::unique_ptr<TrainerDaemon> daemon = TrainerDaemon::Create(options).value();
  EXPECT_EQ(daemon->DescribeSecurity(), "tls+bearer-token");
  const int port = daemon->grpc_port();

  EXPECT_EQ(ListJobsWith(port, {}).error_code(), grpc::StatusCode::UNAVAILABLE);
  ChannelSecurityOptions tls;
  tls.tls_ca_file = pki.ca_cert;
  EXPECT_EQ(ListJobsWith(port, tls).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  tls.token_file = tmp + "/wrong";
  EXPECT_EQ(ListJobsWith(port, tls).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  tls.token_file = tmp + "/right";
  const grpc::Status accepted = ListJobsWith(port, tls);
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  daemon->Shutdown();

  // Mutual TLS: a client without a certificate from the CA cannot connect.
  options.security.token_file.clear();
  options.security.tls_client_ca_file = pki.ca_cert;
  daemon = TrainerDaemon::Create(options).value();
  EXPECT_EQ(daemon->DescribeSecurity(), "mutual-tls");
  ChannelSecurityOptions no_certificate;
  no_certificate.tls_ca_file = pki.ca_cert;
  EXPECT_EQ(ListJobsWith(daemon->grpc_port(), no_certificate).error_code(), grpc::StatusCode::UNAVAILABLE);
  ChannelSecurityOptions client = no_certificate;
  client.tls_cert_file = pki.client_cert;
  client.tls_key_file = pki.client_key;
  EXPECT_TRUE(ListJobsWith(daemon->grpc_port(), client).ok());
  daemon->Shutdown();

  // Tokens in clear text are refused before the daemon starts.
  options.security = {};
  options.security.token_file = tmp + "/tokens";
  absl::StatusOr<std::unique_ptr<TrainerDaemon>> plaintext_tokens = TrainerDaemon::Create(options);
  EXPECT_EQ(plaintext_tokens.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plaintext_tokens.status().message(), HasSubstr("token_file: bearer tokens require TLS"));
}

TEST(TrainerDaemonDevicesTest, RefusesDevicesItCannotUse) {
  const std::string tmp = std::string(std::getenv("TEST_TMPDIR")) + "/devices";
  TrainerDaemon::Options options;
  options.grpc_address = "127.0.0.1:0";
  options.state_directory = tmp + "/state";
  options.repository = tmp + "/repository";
  options.devices = "cpu,tpu";
  absl::StatusOr<std::unique_ptr<TrainerDaemon>> bad = TrainerDaemon::Create(options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("devices: 'tpu' is not a device"));
  options.devices = "auto";
  std::unique_ptr<TrainerDaemon> automatic = TrainerDaemon::Create(options).value();
  EXPECT_FALSE(automatic->devices().empty());
}

}  // namespace
}  // namespace genailab
