#include "common/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "spdlog/spdlog.h"

namespace genailab {
namespace {

TEST(LoggingTest, SetsTheLevelAndRejectsUnknownNames) {
  ASSERT_TRUE(InitLogging("logging_test", "warn").ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  EXPECT_EQ(spdlog::default_logger()->name(), "logging_test");
  const absl::Status unknown = InitLogging("logging_test_2", "loud");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), ::testing::HasSubstr("'loud'"));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
}

}  // namespace
}  // namespace genailab
