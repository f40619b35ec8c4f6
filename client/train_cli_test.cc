#include "client/train_cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "client/cli.h"
#include "genailab/v1/trainer_service.grpc.pb.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::JobProgress Progress(int epoch, v1::JobState state) {
  v1::JobProgress progress;
  progress.set_job_id("job-000001");
  progress.set_state(state);
  progress.set_epoch(epoch);
  progress.set_epochs(3);
  progress.set_loss(100.0 / epoch);
  progress.set_cells_per_second(5000);
  progress.set_eta_seconds(3 - epoch);
  return progress;
}

// Answers like a trainer that knows one finished job, "job-000001".
class FakeTrainerService final : public v1::TrainerService::Service {
 public:
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request, v1::Job* response) override {
    if (request->spec().model_name().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "model_name is required");
    }
    last_spec = request->spec();
    response->set_id("job-000001");
    response->set_state(v1::JOB_STATE_QUEUED);
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request, v1::Job* response) override {
    if (request->job_id() != "job-000001") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such job");
    response->set_id("job-000001");
    response->set_state(v1::JOB_STATE_SUCCEEDED);
    response->mutable_spec()->set_model_name("pbmc");
    response->set_published_version(3);
    response->set_published_directory("/repo/pbmc/3");
    response->set_device("cuda:1");
    *response->mutable_progress() = Progress(3, v1::JOB_STATE_SUCCEEDED);
    return grpc::Status::OK;
  }
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest*,
                        v1::ListJobsResponse* response) override {
    v1::GetJobRequest request;
    request.set_job_id("job-000001");
    return GetJob(context, &request, response->add_jobs());
  }
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job job-000001 already finished (succeeded)");
  }
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::JobProgress>* writer) override {
    writer->Write(Progress(0, v1::JOB_STATE_QUEUED));
    writer->Write(Progress(1, v1::JOB_STATE_RUNNING));
    writer->Write(Progress(1, v1::JOB_STATE_RUNNING));  // a state change without a new epoch
    writer->Write(Progress(2, v1::JOB_STATE_RUNNING));
    writer->Write(Progress(3, v1::JOB_STATE_SUCCEEDED));
    return grpc::Status::OK;
  }

  v1::TrainingJobSpec last_spec;
};

class TrainCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  TrainCliOptions Options(const std::string& command) {
    TrainCliOptions options;
    options.command = command;
    options.channel = server_->InProcessChannel(grpc::ChannelArguments());
    return options;
  }

  int Run(const TrainCliOptions& options) {
    out_.str("");
    err_.str("");
    return RunTrainCli(options, out_, err_);
  }

  FakeTrainerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(TrainCliTest, SubmitSendsTheSpecFileAndWatchesToSuccess) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/job.json";
  std::ofstream(path) << R"({"data_path": "/d.h5ad", "model_name": "pbmc", "training": {"epochs": 3}})";
  TrainCliOptions options = Options("submit");
  options.spec = path;
  options.watch = true;
  EXPECT_EQ(Run(options), kExitOk) << err_.str();
  EXPECT_EQ(service_.last_spec.model_name(), "pbmc");
  EXPECT_EQ(service_.last_spec.training().epochs(), 3);
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("job-000001\n"));
  // One line per epoch (not a TTY), none for the repeated epoch 1 or for epoch 0.
  EXPECT_THAT(out, HasSubstr("job-000001 epoch 1/3 loss=100"));
  EXPECT_THAT(out, HasSubstr("job-000001 epoch 3/3"));
  EXPECT_EQ(out.find("epoch 1/3"), out.rfind("epoch 1/3"));
  EXPECT_THAT(out, Not(HasSubstr("epoch 0/3")));
  EXPECT_THAT(out, HasSubstr("published version 3 at /repo/pbmc/3"));
}

TEST_F(TrainCliTest, YamlSpecFileIsSubmittedLikeJson) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/job.yaml";
  std::ofstream(path) << "data_path: /d.h5ad\nmodel_name: pbmc\ntraining:\n  epochs: 5\n";
  TrainCliOptions options = Options("submit");
  options.spec = path;
  EXPECT_EQ(Run(options), kExitOk) << err_.str();
  EXPECT_EQ(service_.last_spec.training().epochs(), 5);
}

TEST_F(TrainCliTest, InvalidSpecsAreReportedWithTheField) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/bad.json";
  std::ofstream(path) << R"({"data_path": "/d.h5ad", "epochs": 3})";
  TrainCliOptions options = Options("submit");
  options.spec = path;
  EXPECT_EQ(Run(options), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("INVALID_ARGUMENT: --spec"));
  EXPECT_THAT(err_.str(), HasSubstr("epochs"));

  std::ofstream(path, std::ios::trunc) << R"({"data_path": "/d.h5ad"})";
  EXPECT_EQ(Run(options), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("INVALID_ARGUMENT: model_name is required"));
}

TEST_F(TrainCliTest, StatusListAndCancel) {
  TrainCliOptions options = Options("status");
  options.job = "job-000001";
  EXPECT_EQ(Run(options), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("job-000001 succeeded model=pbmc"));
  EXPECT_THAT(out_.str(), HasSubstr(" device=cuda:1\n"));

  options.job = "job-000009";
  EXPECT_EQ(Run(options), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("NOT_FOUND: no such job"));

  EXPECT_EQ(Run(Options("list")), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("job-000001"));
  EXPECT_THAT(out_.str(), HasSubstr("epoch 3/3 -> version 3"));

  options = Options("cancel");
  options.job = "job-000001";
  EXPECT_EQ(Run(options), kExitError);
  EXPECT_THAT(err_.str(), HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(TrainCliTest, UsageErrorsNameTheFlag) {
  EXPECT_EQ(Run(Options("submit")), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--spec is required"));
  EXPECT_EQ(Run(Options("watch")), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--job is required for watch"));
  EXPECT_EQ(Run(Options("retrain")), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("unknown subcommand 'retrain'"));
}

TEST(FormatProgressBarTest, FillsInProportionToEpochs) {
  v1::JobProgress progress;
  progress.set_epoch(5);
  progress.set_epochs(10);
  progress.set_eta_seconds(75);
  EXPECT_THAT(FormatProgressBar(progress, 10), HasSubstr("[#####.....] 5/10"));
  EXPECT_THAT(FormatProgressBar(progress, 10), HasSubstr("ETA 1m15s"));
}

}  // namespace
}  // namespace genailab
