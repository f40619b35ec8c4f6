// TrainerMetrics: the trainer daemon's Prometheus metrics, registered on a registry the caller injects (no
// global registry). Components take a `TrainerMetrics*` where nullptr means "metrics off".
//
//   genailab_trainer_jobs{state}                        gauge, jobs in each state (queued, running, ...)
//   genailab_trainer_epoch{job_id}                      gauge, epochs finished by a running job
//   genailab_trainer_train_loss{job_id}                 gauge, last epoch's training loss per cell
//   genailab_trainer_validation_loss{job_id}            gauge, last epoch's validation loss per cell
//   genailab_trainer_cells_per_second{job_id}           gauge, last epoch's training throughput
//
// The per-job label is job_id, not job: Prometheus' own scrape label is `job`, and a clashing target
// label would be stored as `exported_job`.
//   genailab_trainer_publish_duration_seconds           histogram, time to publish a version
//   genailab_trainer_publish_failures_total             counter, jobs whose training or publish failed
//   genailab_trainer_gated_total                        counter, models kept back by a quality gate
//
// Ownership: shares the registry; the metric objects live in it. Thread-safe (prometheus-cpp families
// and metrics are).
#ifndef GENAILAB_TRAINER_TRAINER_METRICS_H_
#define GENAILAB_TRAINER_TRAINER_METRICS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace genailab {

class TrainerMetrics {
 public:
  // INVALID_ARGUMENT if `registry` is null.
  static absl::StatusOr<std::unique_ptr<TrainerMetrics>> Create(std::shared_ptr<prometheus::Registry> registry);

  // Replaces the per-state job counts; states absent from `counts` read 0.
  void SetJobCounts(const std::map<std::string, int>& counts);
  void RecordEpoch(const std::string& job_id, int epoch, double train_loss, double validation_loss,
                   double cells_per_second);
  void RecordPublish(double seconds);
  void RecordPublishFailure();
  void RecordGated();

 private:
  explicit TrainerMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Family<prometheus::Gauge>* epoch_;
  prometheus::Family<prometheus::Gauge>* train_loss_;
  prometheus::Family<prometheus::Gauge>* validation_loss_;
  prometheus::Family<prometheus::Gauge>* cells_per_second_;
  prometheus::Histogram* publish_seconds_;
  prometheus::Counter* publish_failures_;
  prometheus::Counter* gated_;
};

}  // namespace genailab

#endif  // GENAILAB_TRAINER_TRAINER_METRICS_H_
