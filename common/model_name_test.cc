#include "common/model_name.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::HasSubstr;

TEST(ModelNameTest, AcceptsOrdinaryNames) {
  EXPECT_TRUE(ValidateModelName("pbmc_cvae").ok());
  EXPECT_TRUE(ValidateModelName("kang-2018.v2").ok());
}

TEST(ModelNameTest, RejectsTraversalAndSeparators) {
  for (const char* bad : {"..", ".", "../etc", "a/b", "/abs", ".hidden", "a b", "a\\b", "a..b"}) {
    const absl::Status status = ValidateModelName(bad, "model.name");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("model.name")) << bad;
  }
  EXPECT_THAT(std::string(ValidateModelName("", "spec.model").message()),
              HasSubstr("spec.model is required"));
  EXPECT_FALSE(ValidateModelName(std::string(129, 'a')).ok());
  EXPECT_THAT(std::string(ValidateModelName("a..b").message()), HasSubstr("must not contain '..'"));
  EXPECT_THAT(std::string(ValidateModelName(".hidden").message()), HasSubstr("must start"));
  EXPECT_THAT(std::string(ValidateModelName("a/b").message()), HasSubstr("may contain only"));
}

}  // namespace
}  // namespace genailab
