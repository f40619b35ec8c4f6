#include "trainer/trainer_metrics.h"

#include <utility>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace genailab {
namespace {

// Every state a job can be in, so each reads 0 rather than disappearing.
constexpr const char* kStates[] = {"queued", "running", "succeeded", "gated", "failed", "cancelled"};

}  // namespace

absl::StatusOr<std::unique_ptr<TrainerMetrics>> TrainerMetrics::Create(
    std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("TrainerMetrics: registry is null");
  return std::unique_ptr<TrainerMetrics>(new TrainerMetrics(std::move(registry)));
}

TrainerMetrics::TrainerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      jobs_(&prometheus::BuildGauge()
                 .Name("genailab_trainer_jobs")
                 .Help("Jobs known to the trainer, by state.")
                 .Register(*registry_)),
      epoch_(&prometheus::BuildGauge()
                  .Name("genailab_trainer_epoch")
                  .Help("Epochs finished by a running job.")
                  .Register(*registry_)),
      train_loss_(&prometheus::BuildGauge()
                       .Name("genailab_trainer_train_loss")
                       .Help("Training loss per cell of the last finished epoch.")
                       .Register(*registry_)),
      validation_loss_(&prometheus::BuildGauge()
                            .Name("genailab_trainer_validation_loss")
                            .Help("Validation loss per cell of the last finished epoch.")
                            .Register(*registry_)),
      cells_per_second_(&prometheus::BuildGauge()
                             .Name("genailab_trainer_cells_per_second")
                             .Help("Training throughput of the last finished epoch.")
                             .Register(*registry_)),
      publish_seconds_(&prometheus::BuildHistogram()
                            .Name("genailab_trainer_publish_duration_seconds")
                            .Help("Time to publish a trained version into the repository.")
                            .Register(*registry_)
                            .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30})),
      publish_failures_(&prometheus::BuildCounter()
                             .Name("genailab_trainer_publish_failures_total")
                             .Help("Jobs that failed to train or publish.")
                             .Register(*registry_)
                             .Add({})),
      gated_(&prometheus::BuildCounter()
                  .Name("genailab_trainer_gated_total")
                  .Help("Trained models kept back by their quality gate.")
                  .Register(*registry_)
                  .Add({})) {
  SetJobCounts({});
}

void TrainerMetrics::SetJobCounts(const std::map<std::string, int>& counts) {
  for (const char* state : kStates) {
    const auto it = counts.find(state);
    jobs_->Add({{"state", state}}).Set(it == counts.end() ? 0 : it->second);
  }
}

void TrainerMetrics::RecordEpoch(const std::string& job_id, int epoch, double train_loss, double validation_loss,
                                 double cells_per_second) {
  epoch_->Add({{"job_id", job_id}}).Set(epoch);
  train_loss_->Add({{"job_id", job_id}}).Set(train_loss);
  validation_loss_->Add({{"job_id", job_id}}).Set(validation_loss);
  cells_per_second_->Add({{"job_id", job_id}}).Set(cells_per_second);
}

void TrainerMetrics::RecordPublish(double seconds) { publish_seconds_->Observe(seconds); }
void TrainerMetrics::RecordPublishFailure() { publish_failures_->Increment(); }
void TrainerMetrics::RecordGated() { gated_->Increment(); }

}  // namespace genailab
