#include "common/security/server_security.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/security/testing/test_pki.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(std::getenv("TEST_TMPDIR")) / name).string();
}

TEST(ServerSecurityTest, NoOptionsIsPlaintext) {
  auto security = ServerSecurity::Create(ServerSecurity::Options());
  ASSERT_THAT(security, IsOk());
  EXPECT_EQ((*security)->Describe(), "plaintext");
  EXPECT_NE((*security)->credentials(), nullptr);
}

TEST(ServerSecurityTest, RejectsInconsistentCombinations) {
  ServerSecurity::Options options;
  options.tls_cert_file = "/any/server.pem";
  EXPECT_THAT(ServerSecurity::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls_key_file: required together")));
  options = ServerSecurity::Options();
  options.tls_client_ca_file = "/any/ca.pem";
  EXPECT_THAT(ServerSecurity::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls_client_ca_file: mutual TLS requires")));
  options = ServerSecurity::Options();
  options.token_file = "/any/tokens";
  EXPECT_THAT(ServerSecurity::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token_file: bearer tokens require TLS")));
}

TEST(ServerSecurityTest, MissingFilesAreNotFoundNamingTheOption) {
  ServerSecurity::Options options;
  options.tls_cert_file = "/nonexistent/server.pem";
  options.tls_key_file = "/nonexistent/server.key";
  EXPECT_THAT(ServerSecurity::Create(options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("tls_cert_file: no file '/nonexistent/server.pem'")));
}

TEST(ServerSecurityTest, DescribesEveryMode) {
  auto pki = CreateTestPki(TempPath("pki"));
  ASSERT_THAT(pki, IsOk());
  const std::string tokens = TempPath("tokens");
  std::ofstream(tokens, std::ios::trunc) << "secret\n";

  ServerSecurity::Options options;
  options.tls_cert_file = pki->server_cert;
  options.tls_key_file = pki->server_key;
  auto tls = ServerSecurity::Create(options);
  ASSERT_THAT(tls, IsOk());
  EXPECT_EQ((*tls)->Describe(), "tls");

  options.tls_client_ca_file = pki->ca_cert;
  options.token_file = tokens;
  auto mutual = ServerSecurity::Create(options);
  ASSERT_THAT(mutual, IsOk());
  EXPECT_EQ((*mutual)->Describe(), "mutual-tls+bearer-token");

  options.token_file = TempPath("no_tokens");
  EXPECT_THAT(ServerSecurity::Create(options), StatusIs(absl::StatusCode::kNotFound, HasSubstr("token_file")));
}

}  // namespace
}  // namespace genailab
