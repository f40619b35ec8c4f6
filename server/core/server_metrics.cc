#include "server/core/server_metrics.h"

#include <utility>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace genailab {
namespace {

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
  return *kBuckets;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  return std::unique_ptr<ServerMetrics>(new ServerMetrics(std::move(registry)));
}

ServerMetrics::ServerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      requests_(&prometheus::BuildCounter()
                     .Name("genailab_requests_total")
                     .Help("Finished GenerativeService requests by RPC, model and status code.")
                     .Register(*registry_)),
      duration_(&prometheus::BuildHistogram()
                     .Name("genailab_request_duration_seconds")
                     .Help("GenerativeService request latency in seconds.")
                     .Register(*registry_)),
      cells_(&prometheus::BuildCounter()
                  .Name("genailab_cells_processed_total")
                  .Help("Cells encoded, decoded, generated or perturbed by successful requests.")
                  .Register(*registry_)),
      model_loaded_(&prometheus::BuildGauge()
                         .Name("genailab_model_loaded")
                         .Help("1 while this model version is served, else 0.")
                         .Register(*registry_)),
      load_failures_(&prometheus::BuildCounter()
                          .Name("genailab_model_load_failures_total")
                          .Help("Model versions that failed to load.")
                          .Register(*registry_)) {}

void ServerMetrics::RecordRequest(const std::string& rpc, const std::string& model,
                                  absl::StatusCode code, absl::Duration latency, int64_t cells) {
  requests_->Add({{"rpc", rpc}, {"model", model}, {"code", absl::StatusCodeToString(code)}})
      .Increment();
  duration_->Add({{"rpc", rpc}}, DurationBuckets()).Observe(absl::ToDoubleSeconds(latency));
  if (code == absl::StatusCode::kOk && cells > 0) {
    cells_->Add({{"rpc", rpc}, {"model", model}}).Increment(static_cast<double>(cells));
  }
}

void ServerMetrics::SetModelLoaded(const std::string& model, int64_t version, bool loaded) {
  model_loaded_->Add({{"model", model}, {"version", std::to_string(version)}}).Set(loaded ? 1.0 : 0.0);
}

void ServerMetrics::RecordModelLoadFailure(const std::string& model) {
  load_failures_->Add({{"model", model}}).Increment();
}

}  // namespace genailab
