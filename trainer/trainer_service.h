// TrainerService: the gRPC face of a JobManager (genailab.v1.TrainerService). Thin and stateless: each
// RPC calls one JobManager method and converts its absl::Status in the one shared place
// (common/grpc/status_conversion).
//
// Ownership: borrows the manager, which must outlive the service. Thread-safe (the manager is).
#ifndef GENAILAB_TRAINER_TRAINER_SERVICE_H_
#define GENAILAB_TRAINER_TRAINER_SERVICE_H_

#include "genailab/v1/trainer_service.grpc.pb.h"
#include "trainer/job_manager.h"

namespace genailab {

class TrainerService final : public v1::TrainerService::Service {
 public:
  explicit TrainerService(JobManager* manager) : manager_(manager) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobProgress>* writer) override;

 private:
  JobManager* const manager_;
};

}  // namespace genailab

#endif  // GENAILAB_TRAINER_TRAINER_SERVICE_H_
