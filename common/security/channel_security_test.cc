#include "common/security/channel_security.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "grpcpp/security/credentials.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

TEST(ChannelSecurityTest, PlaintextTlsAndTokenCredentials) {
  EXPECT_NE(MakeChannelCredentials({}).value(), nullptr);
  ChannelSecurityOptions tls;
  tls.tls_ca_file = WriteFile("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  tls.token_file = WriteFile("tokens", "# ops\nsecret-token\n");
  EXPECT_NE(MakeChannelCredentials(tls).value(), nullptr);
}

TEST(ChannelSecurityTest, RefusesInconsistentOptionsAndMissingFilesNamingTheOption) {
  ChannelSecurityOptions cert_only;
  cert_only.tls_ca_file = WriteFile("ca2.pem", "x");
  cert_only.tls_cert_file = WriteFile("cert.pem", "x");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> result = MakeChannelCredentials(cert_only);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("tls_key_file: required together with tls_cert_file"));

  ChannelSecurityOptions clear_token;
  clear_token.token_file = WriteFile("tokens2", "secret\n");
  result = MakeChannelCredentials(clear_token);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("token_file: bearer tokens require tls_ca_file"));

  ChannelSecurityOptions missing;
  missing.tls_ca_file = "/nonexistent/ca.pem";
  result = MakeChannelCredentials(missing);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("tls_ca_file"));
}

}  // namespace
}  // namespace genailab
