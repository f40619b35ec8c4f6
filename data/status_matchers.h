// Test-only gmock matcher for absl::Status and absl::StatusOr<T>:
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cells")));
#ifndef GENAILAB_DATA_STATUS_MATCHERS_H_
#define GENAILAB_DATA_STATUS_MATCHERS_H_

#include <gmock/gmock.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace genailab {
namespace testing_internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace testing_internal

MATCHER_P2(StatusIs, code, message_matcher,
           std::string("has code ") + absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = testing_internal::GetStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.code() == code && ::testing::Matches(message_matcher)(std::string(status.message()));
}

// Matches an OK Status or StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = testing_internal::GetStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.ok();
}

}  // namespace genailab

#endif  // GENAILAB_DATA_STATUS_MATCHERS_H_
