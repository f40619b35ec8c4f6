// ServerMetrics: the server's Prometheus metrics, registered on a registry the caller injects (no
// global registry). Components take a `ServerMetrics*` where nullptr means "metrics off".
//
//   genailab_requests_total{rpc,model,code}          counter
//   genailab_request_duration_seconds{rpc}           histogram, 1 ms .. 30 s
//   genailab_cells_processed_total{rpc,model}        counter
//   genailab_model_loaded{model,version}             gauge, 1 while that version is served, else 0
//   genailab_model_load_failures_total{model}        counter
//
// Ownership: shares the registry; the metric objects live in it. Thread-safe (prometheus-cpp families
// and metrics are).
#ifndef GENAILAB_SERVER_CORE_SERVER_METRICS_H_
#define GENAILAB_SERVER_CORE_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace genailab {

class ServerMetrics {
 public:
  // INVALID_ARGUMENT if `registry` is null.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      std::shared_ptr<prometheus::Registry> registry);

  // One finished request. `model` may be empty (e.g. ListModels, or a model that was not found);
  // `cells` is added to cells_processed only for OK requests.
  void RecordRequest(const std::string& rpc, const std::string& model, absl::StatusCode code,
                     absl::Duration latency, int64_t cells);
  void SetModelLoaded(const std::string& model, int64_t version, bool loaded);
  void RecordModelLoadFailure(const std::string& model);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  explicit ServerMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Counter>* cells_;
  prometheus::Family<prometheus::Gauge>* model_loaded_;
  prometheus::Family<prometheus::Counter>* load_failures_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_SERVER_METRICS_H_
