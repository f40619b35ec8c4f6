// GPU memory gauges on a real server: with a (fake) GPU memory reader, /metrics carries
// genailab_gpu_memory_{used,total}_bytes for the served CUDA device; without a driver the server serves
// as usual and exports no such series.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "common/http/http_get.h"
#include "data/status_matchers.h"
#include "server/core/gpu_memory_reader.h"
#include "server/grpc/genailab_server.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class FixedGpuMemoryReader : public GpuMemoryReader {
 public:
  absl::StatusOr<std::vector<GpuMemoryUsage>> Read() override {
    return std::vector<GpuMemoryUsage>{{0, "GPU-aaaa", 111, 1000}, {1, "GPU-bbbb", 222, 2000}};
  }
};

GenailabServer::Options TestOptions(const std::string& root) {
  GenailabServer::Options options;
  options.grpc_address = "127.0.0.1:0";
  options.metrics_address = "127.0.0.1:0";
  options.repository_root = root;
  options.device = "cuda:1";  // the fake loader ignores it
  options.loader = FakeModelLoader();
  options.gpu_memory_devices = {1};
  return options;
}

// /metrics once it holds the process memory gauge (the first refresh has run) and `wanted`, or the last
// scrape when the safety net runs out.
std::string ScrapeUntil(int port, const std::string& wanted) {
  std::string text;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    absl::StatusOr<std::string> scraped = HttpGet(port, "/metrics");
    if (scraped.ok()) text = *scraped;
    if (text.find("process_resident_memory_bytes ") != std::string::npos &&
        text.find(wanted) != std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return text;
}

TEST(GpuMemoryMetricsTest, ExportsTheServedCudaDevice) {
  const std::string root = FreshTestRepository();
  WriteFakeVersion(root, FakeManifest("m", 1));
  GenailabServer::Options options = TestOptions(root);
  options.open_gpu_memory_reader = []() -> absl::StatusOr<std::unique_ptr<GpuMemoryReader>> {
    return std::make_unique<FixedGpuMemoryReader>();
  };
  auto server = GenailabServer::Create(options);
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->Start(), IsOk());
  const std::string text = ScrapeUntil((*server)->metrics_port(), "genailab_gpu_memory_used_bytes{");
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_used_bytes{device="cuda:1"} 222)"));
  EXPECT_THAT(text, HasSubstr(R"(genailab_gpu_memory_total_bytes{device="cuda:1"} 2000)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(device="cuda:0")")));
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  (*server)->Wait();
}

TEST(GpuMemoryMetricsTest, WithoutADriverTheServerServesAndExportsNoGpuSeries) {
  const std::string root = FreshTestRepository();
  WriteFakeVersion(root, FakeManifest("m", 1));
  GenailabServer::Options options = TestOptions(root);
  options.open_gpu_memory_reader = []() -> absl::StatusOr<std::unique_ptr<GpuMemoryReader>> {
    return absl::UnavailableError("cannot load libnvidia-ml.so.1 (no NVIDIA driver?)");
  };
  auto server = GenailabServer::Create(options);
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->Start(), IsOk());
  EXPECT_EQ((*server)->served_models(), 1);
  const std::string text = ScrapeUntil((*server)->metrics_port(), "genailab_model_loaded{");
  EXPECT_THAT(text, HasSubstr("genailab_model_loaded{"));
  EXPECT_THAT(text, Not(HasSubstr("genailab_gpu_memory_used_bytes{")));
  EXPECT_THAT(text, Not(HasSubstr("genailab_gpu_memory_total_bytes{")));
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  (*server)->Wait();
}

// The binary's default reader is NVML through dlopen: here (no driver) it must not crash either.
TEST(GpuMemoryMetricsTest, DefaultNvmlReaderNeverStopsTheServer) {
  const std::string root = FreshTestRepository();
  WriteFakeVersion(root, FakeManifest("m", 1));
  auto server = GenailabServer::Create(TestOptions(root));
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->Start(), IsOk());
  const std::string text = ScrapeUntil((*server)->metrics_port(), "genailab_model_loaded{");
  EXPECT_THAT(text, HasSubstr("genailab_model_loaded{"));
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  (*server)->Wait();
}

}  // namespace
}  // namespace genailab
