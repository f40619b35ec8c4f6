#include "common/security/bearer_token_authenticator.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEncode[] = "/genailab.v1.GenerativeService/Encode";

std::shared_ptr<BearerTokenAuthenticator> MakeAuthenticator() {
  const std::string path = (std::filesystem::path(std::getenv("TEST_TMPDIR")) / "tokens").string();
  std::ofstream(path, std::ios::trunc) << "# tokens\nalpha-token\nbeta-token\n";
  BearerTokenAuthenticator::Options options;
  options.token_file = path;
  auto authenticator = BearerTokenAuthenticator::Create(options);
  EXPECT_THAT(authenticator, IsOk());
  return authenticator.ok() ? *authenticator : nullptr;
}

TEST(BearerTokenAuthenticatorTest, AcceptsEveryListedTokenWithCaseInsensitiveScheme) {
  auto authenticator = MakeAuthenticator();
  ASSERT_NE(authenticator, nullptr);
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::string_view("Bearer alpha-token")), IsOk());
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::string_view("bearer beta-token")), IsOk());
}

TEST(BearerTokenAuthenticatorTest, RefusesMissingMalformedAndUnknownTokens) {
  auto authenticator = MakeAuthenticator();
  ASSERT_NE(authenticator, nullptr);
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing 'authorization")));
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::string_view("Basic alpha-token")),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not of the form 'Bearer <token>'")));
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::string_view("Bearer alpha-tokenX")),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown bearer token")));
  EXPECT_THAT(authenticator->Authenticate(kEncode, absl::string_view("Bearer alpha-tokenX")),
              StatusIs(absl::StatusCode::kUnauthenticated, Not(HasSubstr("alpha"))));
}

TEST(BearerTokenAuthenticatorTest, HealthChecksNeedNoToken) {
  auto authenticator = MakeAuthenticator();
  ASSERT_NE(authenticator, nullptr);
  EXPECT_THAT(authenticator->Authenticate("/grpc.health.v1.Health/Check", absl::nullopt), IsOk());
  EXPECT_THAT(authenticator->Authenticate("/grpc.health.v1.HealthX/Check", absl::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("HealthX")));
}

TEST(BearerTokenAuthenticatorTest, ProcessConsumesTheAcceptedHeader) {
  auto authenticator = MakeAuthenticator();
  ASSERT_NE(authenticator, nullptr);
  const std::string path = kEncode;
  const std::string header = "Bearer alpha-token";
  grpc::AuthMetadataProcessor::InputMetadata input;
  input.emplace(":path", grpc::string_ref(path));
  input.emplace("authorization", grpc::string_ref(header));
  grpc::AuthMetadataProcessor::OutputMetadata consumed;
  grpc::AuthMetadataProcessor::OutputMetadata response;
  EXPECT_TRUE(authenticator->Process(input, nullptr, &consumed, &response).ok());
  ASSERT_EQ(consumed.count("authorization"), 1u);
  EXPECT_EQ(consumed.find("authorization")->second, header);

  input.erase("authorization");
  consumed.clear();
  const grpc::Status refused = authenticator->Process(input, nullptr, &consumed, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(consumed.empty());
}

TEST(BearerTokenAuthenticatorTest, MissingTokenFileIsNotFound) {
  BearerTokenAuthenticator::Options options;
  options.token_file = "/nonexistent/tokens";
  EXPECT_THAT(BearerTokenAuthenticator::Create(options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("token_file: no file '/nonexistent/tokens'")));
}

}  // namespace
}  // namespace genailab
