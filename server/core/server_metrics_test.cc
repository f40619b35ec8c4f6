#include "server/core/server_metrics.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(ServerMetricsTest, RejectsNullRegistry) {
  EXPECT_THAT(ServerMetrics::Create(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("registry")));
}

TEST(ServerMetricsTest, RecordsRequestsCellsAndModels) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_THAT(metrics, IsOk());
  (*metrics)->RecordRequest("Encode", "pbmc", absl::StatusCode::kOk, absl::Milliseconds(3), 7);
  (*metrics)->RecordRequest("Encode", "pbmc", absl::StatusCode::kInvalidArgument, absl::Milliseconds(1), 5);
  (*metrics)->SetModelLoaded("pbmc", 1, true);
  (*metrics)->SetModelLoaded("pbmc", 1, false);
  (*metrics)->SetModelLoaded("pbmc", 2, true);
  (*metrics)->RecordModelLoadFailure("broken");

  const std::string text = Scrape(*registry);
  EXPECT_THAT(text, HasSubstr(R"(genailab_requests_total{code="OK",model="pbmc",rpc="Encode"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(genailab_requests_total{code="INVALID_ARGUMENT",model="pbmc",rpc="Encode"} 1)"));
  // Failed requests add no cells.
  EXPECT_THAT(text, HasSubstr(R"(genailab_cells_processed_total{model="pbmc",rpc="Encode"} 7)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_request_duration_seconds_count{rpc="Encode"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_request_duration_seconds_bucket{rpc="Encode",le="30"} 2)"));
  // A retired version leaves no series behind.
  EXPECT_THAT(text, Not(HasSubstr(R"(genailab_model_loaded{model="pbmc",version="1"})")));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_loaded{model="pbmc",version="2"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_load_failures_total{model="broken"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr("genailab_cells_processed_total{model=\"pbmc\",rpc=\"Encode\"} 12")));
}

TEST(ServerMetricsTest, RecordsEngineMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_THAT(metrics, IsOk());
  (*metrics)->RecordQueueTime("pbmc", absl::Milliseconds(2));
  (*metrics)->RecordBatch("pbmc", 48, absl::Milliseconds(5));
  (*metrics)->AddPendingRequests("pbmc", 3);
  (*metrics)->AddPendingRequests("pbmc", -1);
  (*metrics)->RecordModelLoad("pbmc");
  (*metrics)->RecordModelUnload("pbmc");
  (*metrics)->SetServedVersion("pbmc", 4);
  ASSERT_THAT((*metrics)->UpdateProcessMemory(), IsOk());

  const std::string text = Scrape(*registry);
  EXPECT_THAT(text, HasSubstr(R"(genailab_queue_duration_seconds_count{model="pbmc"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_compute_duration_seconds_count{model="pbmc"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_batch_size_cells_bucket{model="pbmc",le="32"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_batch_size_cells_bucket{model="pbmc",le="64"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_pending_requests{model="pbmc"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_loads_total{model="pbmc"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_unloads_total{model="pbmc"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_model_served_version{model="pbmc"} 4)"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(text, Not(HasSubstr("process_resident_memory_bytes 0\n")));
  // No device-memory hook was called: the gauge family has no series.
  EXPECT_THAT(text, Not(HasSubstr("genailab_device_memory_bytes{")));
}

TEST(ServerMetricsTest, ExportsGpuMemoryPerDeviceAndClearsIt) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = ServerMetrics::Create(registry);
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(Scrape(*registry), Not(HasSubstr("genailab_gpu_memory_used_bytes{")));
  (*metrics)->SetGpuMemory("cuda:0", 1000, 4000);
  (*metrics)->SetGpuMemory("cuda:1", 7, 8);
  std::string text = Scrape(*registry);
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:0"} 1000)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_total_bytes{device="cuda:0"} 4000)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:1"} 7)"));
  (*metrics)->ClearGpuMemory("cuda:0");
  text = Scrape(*registry);
  EXPECT_THAT(text, Not(HasSubstr(R"(device="cuda:0")")));
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_total_bytes{device="cuda:1"} 8)"));
}

}  // namespace
}  // namespace genailab
