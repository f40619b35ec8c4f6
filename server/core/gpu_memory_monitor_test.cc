#include "server/core/gpu_memory_monitor.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The position CudaToNvmlPosition finds, or -1 for an error.
int Position(int cuda_index, const std::optional<std::string>& visible, const std::vector<GpuMemoryUsage>& gpus) {
  const absl::StatusOr<int> position = CudaToNvmlPosition(cuda_index, visible, gpus);
  return position.ok() ? *position : -1;
}

// Answers what the test puts in `answer` (shared, so the test changes it after handing the reader over).
class FakeGpuMemoryReader : public GpuMemoryReader {
 public:
  explicit FakeGpuMemoryReader(std::shared_ptr<absl::StatusOr<std::vector<GpuMemoryUsage>>> answer)
      : answer_(std::move(answer)) {}
  absl::StatusOr<std::vector<GpuMemoryUsage>> Read() override { return *answer_; }

 private:
  std::shared_ptr<absl::StatusOr<std::vector<GpuMemoryUsage>>> answer_;
};

std::vector<GpuMemoryUsage> TwoGpus() {
  return {{0, "GPU-aaaa-1111", 100, 1000}, {1, "GPU-bbbb-2222", 300, 8000}};
}

class GpuMemoryMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    auto metrics = ServerMetrics::Create(registry_);
    ASSERT_THAT(metrics, IsOk());
    metrics_ = std::move(metrics).value();
    answer_ = std::make_shared<absl::StatusOr<std::vector<GpuMemoryUsage>>>(TwoGpus());
  }

  GpuMemoryMonitor::Options MonitorOptions(std::vector<int> devices) {
    GpuMemoryMonitor::Options options;
    options.cuda_devices = std::move(devices);
    options.metrics = metrics_.get();
    options.warn = [this](const std::string& message) { warnings_.push_back(message); };
    return options;
  }

  std::unique_ptr<GpuMemoryReader> Reader() { return std::make_unique<FakeGpuMemoryReader>(answer_); }

  std::string Scrape() { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::shared_ptr<absl::StatusOr<std::vector<GpuMemoryUsage>>> answer_;
  std::vector<std::string> warnings_;
};

TEST_F(GpuMemoryMonitorTest, AbsentNvmlIsReportedOnceAndExportsNothing) {
  auto monitor = GpuMemoryMonitor::Create(
      MonitorOptions({0}), absl::UnavailableError("cannot load libnvidia-ml.so.1 (no NVIDIA driver?): not found"));
  ASSERT_THAT(monitor, IsOk());
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("libnvidia-ml.so.1")));
  }
  EXPECT_THAT(warnings_, ElementsAre(HasSubstr("GPU memory metrics unavailable: cannot load libnvidia-ml.so.1")));
  EXPECT_THAT(Scrape(), Not(HasSubstr("genailab_gpu_memory_used_bytes{")));
  EXPECT_THAT(Scrape(), Not(HasSubstr("genailab_gpu_memory_total_bytes{")));
}

TEST_F(GpuMemoryMonitorTest, ExportsTheServedDevicesUnderTheirCudaNames) {
  auto monitor = GpuMemoryMonitor::Create(MonitorOptions({1}), Reader());
  ASSERT_THAT(monitor, IsOk());
  ASSERT_THAT((*monitor)->Update(), IsOk());
  std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:1"} 300)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_total_bytes{device="cuda:1"} 8000)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(device="cuda:0")")));
  // Later reads replace the figures.
  (*answer_)->at(1).used_bytes = 5000;
  ASSERT_THAT((*monitor)->Update(), IsOk());
  EXPECT_THAT(Scrape(), HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:1"} 5000)"));
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(GpuMemoryMonitorTest, FollowsCudaVisibleDevices) {
  GpuMemoryMonitor::Options options = MonitorOptions({0});
  options.cuda_visible_devices = "GPU-bbbb";  // cuda:0 is NVML device 1
  auto monitor = GpuMemoryMonitor::Create(options, Reader());
  ASSERT_THAT(monitor, IsOk());
  ASSERT_THAT((*monitor)->Update(), IsOk());
  EXPECT_THAT(Scrape(), HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:0"} 300)"));
}

TEST_F(GpuMemoryMonitorTest, ReadFailuresAreLoggedOncePerOutageAndClearTheGauges) {
  auto monitor = GpuMemoryMonitor::Create(MonitorOptions({0}), Reader());
  ASSERT_THAT(monitor, IsOk());
  ASSERT_THAT((*monitor)->Update(), IsOk());
  EXPECT_THAT(Scrape(), HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:0"} 100)"));
  *answer_ = absl::UnavailableError("GPU is lost");
  EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("GPU is lost")));
  EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_THAT(Scrape(), Not(HasSubstr(R"(device="cuda:0")")));
  EXPECT_THAT(warnings_, ElementsAre(HasSubstr("cannot read GPU memory")));
  // It recovers, and a second outage is reported again.
  *answer_ = TwoGpus();
  ASSERT_THAT((*monitor)->Update(), IsOk());
  EXPECT_THAT(Scrape(), HasSubstr(R"(genailab_gpu_memory_total_bytes{device="cuda:0"} 1000)"));
  *answer_ = absl::UnavailableError("GPU is lost again");
  EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(warnings_.size(), 2u);
}

TEST_F(GpuMemoryMonitorTest, InvisibleDeviceIsNotFoundAndReportedOnce) {
  GpuMemoryMonitor::Options options = MonitorOptions({0, 2});
  auto monitor = GpuMemoryMonitor::Create(options, Reader());
  ASSERT_THAT(monitor, IsOk());
  EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kNotFound, HasSubstr("cuda:2 is not visible")));
  EXPECT_THAT((*monitor)->Update(), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(warnings_, ElementsAre(HasSubstr("GPU memory of cuda:2 not exported")));
  // The visible one is still exported.
  EXPECT_THAT(Scrape(), HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:0"} 100)"));
}

TEST_F(GpuMemoryMonitorTest, CreateRejectsBadOptions) {
  GpuMemoryMonitor::Options options = MonitorOptions({});
  EXPECT_THAT(GpuMemoryMonitor::Create(options, Reader()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs a CUDA device")));
  options = MonitorOptions({-1});
  EXPECT_THAT(GpuMemoryMonitor::Create(options, Reader()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-1 is negative")));
  options = MonitorOptions({0});
  options.metrics = nullptr;
  EXPECT_THAT(GpuMemoryMonitor::Create(options, Reader()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metrics")));
}

TEST(CudaToNvmlPositionTest, MapsIndicesAndUuidPrefixesAsCudaDoes) {
  const std::vector<GpuMemoryUsage> gpus = {
      {0, "GPU-aaaa-1111", 0, 1}, {1, "GPU-bbbb-2222", 0, 1}, {2, "GPU-bbbc-3333", 0, 1}};
  // Unset: CUDA order = NVML order.
  EXPECT_EQ(Position(2, std::nullopt, gpus), 2);
  // Indices, reordered.
  EXPECT_EQ(Position(0, "2,0", gpus), 2);
  EXPECT_EQ(Position(1, " 2, 0", gpus), 0);
  // UUID prefixes; an ambiguous one ("GPU-bbb") ends the list.
  EXPECT_EQ(Position(0, "GPU-bbbc", gpus), 2);
  EXPECT_THAT(CudaToNvmlPosition(1, "GPU-aaaa,GPU-bbb,1", gpus),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("1 of 3 GPU(s) visible")));
  // The list ends at an unknown index, a MIG name, a repeat; empty hides everything.
  EXPECT_THAT(CudaToNvmlPosition(1, "1,7,0", gpus), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(CudaToNvmlPosition(0, "MIG-0123", gpus), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(CudaToNvmlPosition(1, "0,0", gpus), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(CudaToNvmlPosition(0, "", gpus),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("CUDA_VISIBLE_DEVICES=\"\"")));
  EXPECT_THAT(CudaToNvmlPosition(0, "-1", gpus), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(CudaToNvmlPosition(3, std::nullopt, gpus), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace genailab
