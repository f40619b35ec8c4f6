#include "client/trainer_client.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/status_conversion.h"
#include "common/grpc/unary_call.h"
#include "common/status_macros.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<TrainerClient>> TrainerClient::Create(const Options& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target: empty trainer address");
  GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                            MakeChannelCredentials(options.security));
  return Create(grpc::CreateChannel(options.target, std::move(credentials)), options);
}

absl::StatusOr<std::unique_ptr<TrainerClient>> TrainerClient::Create(std::shared_ptr<grpc::Channel> channel,
                                                                     const Options& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("channel: null");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout: must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  return std::unique_ptr<TrainerClient>(new TrainerClient(v1::TrainerService::NewStub(channel), options));
}

absl::StatusOr<v1::Job> TrainerClient::Submit(const v1::TrainingJobSpec& spec) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  return UnaryCall<v1::SubmitJobRequest, v1::Job>(stub_.get(), &v1::TrainerService::Stub::SubmitJob, request,
                                             options_.timeout);
}

absl::StatusOr<v1::Job> TrainerClient::Get(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  return UnaryCall<v1::GetJobRequest, v1::Job>(stub_.get(), &v1::TrainerService::Stub::GetJob, request,
                                          options_.timeout);
}

absl::StatusOr<std::vector<v1::Job>> TrainerClient::List() {
  GENAILAB_ASSIGN_OR_RETURN(v1::ListJobsResponse response,
                            (UnaryCall<v1::ListJobsRequest, v1::ListJobsResponse>(
                                stub_.get(), &v1::TrainerService::Stub::ListJobs, v1::ListJobsRequest(),
                                options_.timeout)));
  return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<v1::Job> TrainerClient::Cancel(const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  return UnaryCall<v1::CancelJobRequest, v1::Job>(stub_.get(), &v1::TrainerService::Stub::CancelJob, request,
                                             options_.timeout);
}

absl::Status TrainerClient::Watch(const std::string& job_id,
                                  const std::function<void(const v1::JobProgress&)>& on_progress) {
  grpc::ClientContext context;
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::JobProgress>> reader = stub_->WatchJob(&context, request);
  v1::JobProgress progress;
  while (reader->Read(&progress)) on_progress(progress);
  return FromGrpcStatus(reader->Finish());
}

}  // namespace genailab
