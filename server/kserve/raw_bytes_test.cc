#include "server/kserve/raw_bytes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RawBytesTest, RoundTripsElementsOfAnyLength) {
  const std::string long_element(300, 'x');  // a length with a second byte
  std::string raw;
  for (const std::string& element : {std::string("type_0"), std::string(), std::string("B\xc3\xa9"), long_element}) {
    AppendRawBytes(element, &raw);
  }
  EXPECT_EQ(raw.substr(0, 10), std::string("\x06\x00\x00\x00type_0", 10));
  absl::StatusOr<std::vector<std::string>> elements = DecodeRawBytes(raw, 4, "inputs[\"cell_type\"]");
  ASSERT_TRUE(elements.ok()) << elements.status();
  EXPECT_THAT(*elements, ElementsAre("type_0", "", "B\xc3\xa9", long_element));
  EXPECT_TRUE(DecodeRawBytes("", 0, "x").ok());
}

TEST(RawBytesTest, RejectsMalformedDataNamingTheField) {
  std::string raw;
  AppendRawBytes("abc", &raw);
  const auto message = [](const absl::StatusOr<std::vector<std::string>>& result) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(result.status().message());
  };
  EXPECT_THAT(message(DecodeRawBytes(raw + "\x01\x00", 2, "f")), HasSubstr("f: truncated BYTES element length"));
  EXPECT_THAT(message(DecodeRawBytes(raw.substr(0, 6), 1, "f")), HasSubstr("f: BYTES element longer than the data"));
  EXPECT_THAT(message(DecodeRawBytes(raw, 2, "f")), HasSubstr("f: 1 BYTES elements for shape of 2"));
}

}  // namespace
}  // namespace genailab
