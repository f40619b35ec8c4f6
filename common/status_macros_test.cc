#include "common/status_macros.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

absl::Status FailIf(bool fail) {
  return fail ? absl::InvalidArgumentError("field: bad") : absl::OkStatus();
}

absl::Status Propagate(bool fail, int* reached) {
  GENAILAB_RETURN_IF_ERROR(FailIf(fail));
  ++*reached;
  return absl::OkStatus();
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  GENAILAB_ASSIGN_OR_RETURN(int half, Half(x));
  GENAILAB_ASSIGN_OR_RETURN(half, Half(half));
  return half;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtFirstError) {
  int reached = 0;
  EXPECT_TRUE(Propagate(false, &reached).ok());
  EXPECT_EQ(reached, 1);
  const absl::Status status = Propagate(true, &reached);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("field"));
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesAndAssigns) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

}  // namespace
}  // namespace genailab
