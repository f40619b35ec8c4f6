#include "common/credential_files.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = (std::filesystem::path(std::getenv("TEST_TMPDIR")) / name).string();
  std::ofstream(path, std::ios::trunc) << contents;
  return path;
}

TEST(ReadCredentialFileTest, ReadsWholeFile) {
  const std::string path = WriteFile("cert.pem", "-----BEGIN CERTIFICATE-----\nabc\n");
  absl::StatusOr<std::string> contents = ReadCredentialFile(path, "tls_cert_file");
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "-----BEGIN CERTIFICATE-----\nabc\n");
}

TEST(ReadCredentialFileTest, MissingFileIsNotFoundNamingField) {
  absl::StatusOr<std::string> contents = ReadCredentialFile("/nonexistent/cert.pem", "tls_cert_file");
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(contents.status().message(), HasSubstr("tls_cert_file: no file '/nonexistent/cert.pem'"));
}

TEST(ReadCredentialFileTest, EmptyFileIsInvalid) {
  absl::StatusOr<std::string> contents = ReadCredentialFile(WriteFile("empty.pem", ""), "tls_key_file");
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(contents.status().message(), HasSubstr("tls_key_file"));
  EXPECT_THAT(contents.status().message(), HasSubstr("is empty"));
}

TEST(ReadBearerTokensTest, SkipsBlankAndCommentLinesAndTrims) {
  const std::string path = WriteFile("tokens", "# operators\n  alpha \n\nbeta\r\n");
  absl::StatusOr<std::vector<std::string>> tokens = ReadBearerTokens(path, "token_file");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre("alpha", "beta"));
}

TEST(ReadBearerTokensTest, OnlyCommentsIsInvalid) {
  absl::StatusOr<std::vector<std::string>> tokens = ReadBearerTokens(WriteFile("comments", "# x\n\n"), "token_file");
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokens.status().message(), HasSubstr("holds no token"));
}

TEST(ReadBearerTokensTest, WhitespaceInsideTokenIsInvalid) {
  absl::StatusOr<std::vector<std::string>> tokens = ReadBearerTokens(WriteFile("spaced", "ok\nbad token\n"), "token_file");
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokens.status().message(), HasSubstr("line 2"));
}

}  // namespace
}  // namespace genailab
