#include "server/core/nvml_memory_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

// Built by //server/testing:libfake_nvml.so; tests run at the runfiles root.
constexpr char kFakeNvml[] = "server/testing/libfake_nvml.so";

TEST(NvmlMemoryReaderTest, AbsentLibraryIsUnavailableNamingIt) {
  NvmlMemoryReader::Options options;
  options.library = "libnvidia-ml-absent.so.1";
  EXPECT_THAT(NvmlMemoryReader::Create(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot load libnvidia-ml-absent.so.1")));
}

TEST(NvmlMemoryReaderTest, LibraryWithoutNvmlIsUnavailableNamingTheMissingFunctions) {
  NvmlMemoryReader::Options options;
  options.library = "libm.so.6";
  EXPECT_THAT(NvmlMemoryReader::Create(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("libm.so.6 lacks nvmlInit_v2, nvmlShutdown")));
}

TEST(NvmlMemoryReaderTest, ReadsEveryDeviceThroughTheLoadedLibrary) {
  NvmlMemoryReader::Options options;
  options.library = kFakeNvml;
  auto reader = NvmlMemoryReader::Create(options);
  ASSERT_THAT(reader, IsOk());
  auto devices = (*reader)->Read();
  ASSERT_THAT(devices, IsOk());
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_EQ((*devices)[0].index, 0);
  EXPECT_EQ((*devices)[0].uuid, "GPU-aaaa-1111");
  EXPECT_EQ((*devices)[0].used_bytes, int64_t{1} << 30);
  EXPECT_EQ((*devices)[0].total_bytes, int64_t{16} << 30);
  EXPECT_EQ((*devices)[1].index, 1);
  EXPECT_EQ((*devices)[1].uuid, "GPU-bbbb-2222");
  EXPECT_EQ((*devices)[1].used_bytes, int64_t{3} << 30);
  EXPECT_EQ((*devices)[1].total_bytes, int64_t{80} << 30);
}

// On a machine with an NVIDIA driver this reads the real GPUs; elsewhere it checks the absent path.
TEST(NvmlMemoryReaderTest, RealDriverReadsSaneFiguresOrIsUnavailable) {
  auto reader = NvmlMemoryReader::Create({});
  if (!reader.ok()) {
    EXPECT_THAT(reader, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("libnvidia-ml.so.1")));
    return;
  }
  auto devices = (*reader)->Read();
  ASSERT_THAT(devices, IsOk());
  for (const GpuMemoryUsage& device : *devices) {
    EXPECT_GT(device.total_bytes, 0) << device.index;
    EXPECT_LE(device.used_bytes, device.total_bytes) << device.index;
    EXPECT_THAT(device.uuid, ::testing::StartsWith("GPU-"));
  }
}

}  // namespace
}  // namespace genailab
