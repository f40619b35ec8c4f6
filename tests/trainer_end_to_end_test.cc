// End to end for the training daemon, with the real binaries on loopback:
// - a genailab-trainer killed with SIGKILL in the middle of a job, then restarted on the same state folder,
//   resumes the job from its last checkpoint and finishes it;
// - a job submitted with `genailab train submit --watch` is trained and published by genailab-trainer, and
//   a running genailab-server (polling the repository every second) picks the new version up and answers
//   with it, without a restart;
// - a genailab-trainer started with --tls_cert/--tls_key/--token_file answers `genailab train` with the
//   matching --tls_ca/--token_file and refuses it without them or with another token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "client/genailab_client.h"
#include "client/trainer_client.h"
#include "common/security/testing/test_pki.h"
#include "data/h5ad_io.h"
#include "data/synthetic.h"
#include "google/protobuf/util/json_util.h"
#include "tests/process.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;
using testing::ChildProcess;

// A started binary and the ports from its --port_file.
struct Started {
  std::unique_ptr<ChildProcess> process;
  int grpc_port = 0;
  int metrics_port = 0;
};

class TrainerEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: each starts its own daemons on their own state.
    tmp_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(tmp_);
    SyntheticOptions options;
    options.n_genes = 100;
    options.n_cell_types = 2;
    options.n_batches = 1;
    options.cells_per_group = 200;
    options.seed = 5;
    data_path_ = tmp_ + "/cells.h5ad";
    ASSERT_TRUE(WriteH5ad(data_path_, GenerateSyntheticDataset(options).value()).ok());
    repository_ = tmp_ + "/repository";
    std::filesystem::create_directories(repository_);
  }

  // Starts `argv` with --port_file and waits for its ports.
  Started Start(std::vector<std::string> argv, const std::string& name) {
    const std::string port_file = absl::StrCat(tmp_, "/", name, ".ports.json");
    std::filesystem::remove(port_file);
    argv.push_back("--port_file=" + port_file);
    Started started;
    auto process = ChildProcess::Start(argv, absl::StrCat(tmp_, "/", name, ".log"));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return started;
    started.process = std::make_unique<ChildProcess>(std::move(*process));
    const auto ports = testing::WaitForFile(port_file, absl::Seconds(60));
    EXPECT_TRUE(ports.ok()) << testing::ReadFileOrEmpty(absl::StrCat(tmp_, "/", name, ".log"));
    if (!ports.ok()) return started;
    const nlohmann::json parsed = nlohmann::json::parse(*ports);
    started.grpc_port = parsed.at("grpc_port").get<int>();
    started.metrics_port = parsed.at("metrics_port").get<int>();
    return started;
  }

  Started StartTrainer(const std::string& name) {
    return Start({testing::RunfilePath("trainer/genailab-trainer"), "--grpc_address=127.0.0.1:0",
                  "--metrics_address=127.0.0.1:0", "--state_dir=" + tmp_ + "/trainer_state",
                  "--repository=" + repository_, "--threads=1"},
                 name);
  }

  std::unique_ptr<TrainerClient> Client(int port) {
    TrainerClient::Options options;
    options.target = absl::StrCat("127.0.0.1:", port);
    return TrainerClient::Create(options).value();
  }

  v1::TrainingJobSpec Spec(const std::string& model, int epochs) const {
    v1::TrainingJobSpec spec;
    spec.set_data_path(data_path_);
    spec.add_covariate_keys("cell_type");
    spec.set_condition_key("condition");
    spec.set_latent_dim(4);
    spec.add_hidden_dims(32);
    spec.mutable_training()->set_epochs(epochs);
    spec.mutable_training()->set_batch_size(16);
    spec.set_model_name(model);
    return spec;
  }

  std::string tmp_;
  std::string data_path_;
  std::string repository_;
};

TEST_F(TrainerEndToEndTest, KilledDaemonResumesTheJobFromItsCheckpointAndFinishes) {
  constexpr int kEpochs = 60;
  Started first = StartTrainer("trainer_first");
  ASSERT_NE(first.grpc_port, 0);
  const v1::Job submitted = Client(first.grpc_port)->Submit(Spec("resumed", kEpochs)).value();

  // Kill it once a few epochs (and their checkpoints) are done, while it is inside a later epoch.
  int epoch_at_kill = 0;
  for (int i = 0; i < 6000 && epoch_at_kill < 3; ++i) {
    absl::StatusOr<v1::Job> job = Client(first.grpc_port)->Get(submitted.id());
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_NE(job->state(), v1::JOB_STATE_SUCCEEDED) << "the job finished before it could be killed";
    epoch_at_kill = job->progress().epoch();
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(epoch_at_kill, 3);
  ASSERT_LT(epoch_at_kill, kEpochs);
  ASSERT_TRUE(first.process->Stop(SIGKILL, absl::Seconds(10)).ok());
  ASSERT_TRUE(std::filesystem::exists(submitted.job_directory() + "/training.ckpt"));

  Started second = StartTrainer("trainer_second");
  ASSERT_NE(second.grpc_port, 0);
  std::unique_ptr<TrainerClient> client = Client(second.grpc_port);
  int first_epoch_after_restart = 0;
  ASSERT_TRUE(client
                  ->Watch(submitted.id(),
                          [&](const v1::JobProgress& progress) {
                            if (first_epoch_after_restart == 0 && progress.state() == v1::JOB_STATE_RUNNING &&
                                progress.resumed_from_epoch() > 0) {
                              first_epoch_after_restart = progress.epoch();
                            }
                          })
                  .ok());
  const v1::Job done = client->Get(submitted.id()).value();
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.message();
  EXPECT_EQ(done.attempts(), 2);
  // It went on from a checkpoint at or after the third epoch, not from the start.
  // (Epochs may finish between the last poll and the kill, so the checkpoint can be newer than that poll.)
  EXPECT_GE(done.progress().resumed_from_epoch(), 3);
  EXPECT_LT(done.progress().resumed_from_epoch(), kEpochs);
  EXPECT_GT(first_epoch_after_restart, done.progress().resumed_from_epoch());
  EXPECT_EQ(done.progress().epoch(), kEpochs);
  EXPECT_EQ(done.metrics().at("epochs"), kEpochs);
  EXPECT_EQ(done.metrics().at("resumed_from_epoch"), done.progress().resumed_from_epoch());
  EXPECT_EQ(done.published_version(), 1);
  EXPECT_TRUE(std::filesystem::exists(repository_ + "/resumed/1/manifest.json"));

  const auto stopped = second.process->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0);
}

TEST_F(TrainerEndToEndTest, SubmittedJobIsPublishedAndServedByARunningServer) {
  Started server = Start({testing::RunfilePath("server/genailab-server"), "--repository=" + repository_,
                          "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
                          "--poll_interval_seconds=1", "--device=cpu"},
                         "server");
  ASSERT_NE(server.grpc_port, 0);
  Started trainer = StartTrainer("trainer");
  ASSERT_NE(trainer.grpc_port, 0);

  GenailabClient::Options client_options;
  client_options.target = absl::StrCat("127.0.0.1:", server.grpc_port);
  client_options.timeout = absl::Seconds(30);
  std::unique_ptr<GenailabClient> serving = GenailabClient::Create(client_options).value();
  EXPECT_EQ(serving->GetModel("served").status().code(), absl::StatusCode::kNotFound);

  // Through the command users type: submit, watch to the end.
  const std::string spec_path = tmp_ + "/job.json";
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(Spec("served", 3), &json).ok());
  std::ofstream(spec_path) << json;
  const std::string cli_log = tmp_ + "/cli.log";
  const auto exit_code = testing::RunToCompletion(
      {testing::RunfilePath("client/genailab"), "train", "submit", "--spec=" + spec_path, "--watch",
       absl::StrCat("--trainer=127.0.0.1:", trainer.grpc_port)},
      cli_log, absl::Minutes(3));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  const std::string cli_output = testing::ReadFileOrEmpty(cli_log);
  ASSERT_EQ(*exit_code, 0) << cli_output;
  EXPECT_THAT(cli_output, HasSubstr("epoch 3/3"));
  EXPECT_THAT(cli_output, HasSubstr("published version 1"));

  absl::StatusOr<v1::ModelInfo> info = serving->GetModel("served");
  for (int i = 0; i < 300 && !info.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    info = serving->GetModel("served");
  }
  ASSERT_TRUE(info.ok()) << info.status() << testing::ReadFileOrEmpty(tmp_ + "/server.log");
  EXPECT_EQ(info->version(), 1);
  absl::StatusOr<AnnData> cells = serving->Generate({"served", 1}, {{{{"cell_type", "type_0"}}, 5}}, 7);
  ASSERT_TRUE(cells.ok()) << cells.status();
  EXPECT_EQ(cells->n_obs(), 5);
  EXPECT_EQ(cells->n_vars(), 100);

  const std::string metrics = testing::HttpGet(trainer.metrics_port, "/metrics").value();
  EXPECT_THAT(metrics, HasSubstr("genailab_trainer_jobs{state=\"succeeded\"} 1"));

  for (Started* started : {&trainer, &server}) {
    const auto stopped = started->process->Stop(SIGTERM, absl::Seconds(30));
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(*stopped, 0);
  }
}

TEST_F(TrainerEndToEndTest, TlsTrainerTakesOnlyClientsWithTheRightToken) {
  const TestPki pki = CreateTestPki(tmp_ + "/pki").value();
  std::ofstream(tmp_ + "/tokens") << "right-token\n";
  std::ofstream(tmp_ + "/wrong") << "wrong-token\n";
  Started trainer = Start({testing::RunfilePath("trainer/genailab-trainer"), "--grpc_address=127.0.0.1:0",
                           "--metrics_address=127.0.0.1:0", "--state_dir=" + tmp_ + "/trainer_state",
                           "--repository=" + repository_, "--devices=cpu", "--jobs_per_device=1",
                           "--tls_cert=" + pki.server_cert, "--tls_key=" + pki.server_key,
                           "--token_file=" + tmp_ + "/tokens"},
                          "tls_trainer");
  ASSERT_NE(trainer.grpc_port, 0);
  EXPECT_THAT(testing::ReadFileOrEmpty(tmp_ + "/tls_trainer.log"), HasSubstr("tls+bearer-token"));

  // `genailab train list` with the given extra flags: its exit code and output.
  const auto list = [&](const std::vector<std::string>& flags, const std::string& name) {
    std::vector<std::string> argv = {testing::RunfilePath("client/genailab"), "train", "list",
                                     absl::StrCat("--trainer=127.0.0.1:", trainer.grpc_port), "--timeout=10s"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const std::string log = tmp_ + "/" + name + ".log";
    const auto exit_code = testing::RunToCompletion(argv, log, absl::Minutes(1));
    EXPECT_TRUE(exit_code.ok()) << exit_code.status();
    return std::make_pair(exit_code.ok() ? *exit_code : -1, testing::ReadFileOrEmpty(log));
  };
  const auto plaintext = list({}, "plaintext");
  EXPECT_NE(plaintext.first, 0);
  EXPECT_THAT(plaintext.second, HasSubstr("UNAVAILABLE"));
  const auto no_token = list({"--tls_ca=" + pki.ca_cert}, "no_token");
  EXPECT_NE(no_token.first, 0);
  EXPECT_THAT(no_token.second, HasSubstr("UNAUTHENTICATED"));
  const auto wrong = list({"--tls_ca=" + pki.ca_cert, "--token_file=" + tmp_ + "/wrong"}, "wrong_token");
  EXPECT_NE(wrong.first, 0);
  EXPECT_THAT(wrong.second, HasSubstr("UNAUTHENTICATED"));
  const auto right = list({"--tls_ca=" + pki.ca_cert, "--token_file=" + tmp_ + "/tokens"}, "right_token");
  EXPECT_EQ(right.first, 0) << right.second;

  const auto stopped = trainer.process->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0);
}

}  // namespace
}  // namespace genailab
