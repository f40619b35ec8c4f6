#include "trainer/trainer_service.h"

#include "common/grpc/status_conversion.h"

namespace genailab {
namespace {

// Copies a StatusOr's value into `response` or returns its error.
grpc::Status Reply(absl::StatusOr<v1::Job> job, v1::Job* response) {
  if (job.ok()) *response = std::move(*job);
  return ToGrpcStatus(job.status());
}

}  // namespace

grpc::Status TrainerService::SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                                       v1::Job* response) {
  return Reply(manager_->Submit(request->spec(), "grpc"), response);
}

grpc::Status TrainerService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request, v1::Job* response) {
  return Reply(manager_->Get(request->job_id()), response);
}

grpc::Status TrainerService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                                      v1::ListJobsResponse* response) {
  for (v1::Job& job : manager_->List()) *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status TrainerService::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                       v1::Job* response) {
  return Reply(manager_->Cancel(request->job_id()), response);
}

grpc::Status TrainerService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                      grpc::ServerWriter<v1::JobProgress>* writer) {
  return ToGrpcStatus(manager_->Watch(
      request->job_id(), [writer](const v1::JobProgress& progress) { return writer->Write(progress); },
      [context] { return context->IsCancelled(); }));
}

}  // namespace genailab
