#include "trainer/device_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseDeviceListTest, ParsesListsAndAuto) {
  EXPECT_THAT(ParseDeviceList("cpu", 0).value(), ElementsAre("cpu"));
  EXPECT_THAT(ParseDeviceList("cpu, cuda:1,cuda", 2).value(), ElementsAre("cpu", "cuda:1", "cuda:0"));
  EXPECT_THAT(ParseDeviceList("auto", 0).value(), ElementsAre("cpu"));
  EXPECT_THAT(ParseDeviceList("auto", 3).value(), ElementsAre("cuda:0", "cuda:1", "cuda:2"));
}

TEST(ParseDeviceListTest, RejectsBadEmptyDuplicateAndMissingDevices) {
  for (const char* bad : {"", "gpu", "cpu,", "cuda:", "cuda:-1", "cuda:x", "cuda:+1"}) {
    absl::StatusOr<std::vector<std::string>> parsed = ParseDeviceList(bad, 4);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("devices:")) << bad;
  }
  absl::StatusOr<std::vector<std::string>> twice = ParseDeviceList("cuda,cuda:0", 1);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.status().message(), HasSubstr("cuda:0 is listed twice"));
  absl::StatusOr<std::vector<std::string>> missing = ParseDeviceList("cpu,cuda:1", 1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(missing.status().message(), HasSubstr("'cuda:1' is not present (1 CUDA device(s) visible)"));
}

TEST(DeviceMatchesTest, AutoAndUnsetMatchAnyCudaAnyCudaDeviceOthersOnlyThemselves) {
  EXPECT_TRUE(DeviceMatches("", "cpu"));
  EXPECT_TRUE(DeviceMatches("auto", "cuda:1"));
  EXPECT_TRUE(DeviceMatches("cuda", "cuda:1"));
  EXPECT_FALSE(DeviceMatches("cuda", "cpu"));
  EXPECT_TRUE(DeviceMatches("cpu", "cpu"));
  EXPECT_FALSE(DeviceMatches("cpu", "cuda:0"));
  EXPECT_TRUE(DeviceMatches("cuda:1", "cuda:1"));
  EXPECT_FALSE(DeviceMatches("cuda:1", "cuda:0"));
}

}  // namespace
}  // namespace genailab
