// GenailabClient's security options against a mutual-TLS server: the client certificate opens the
// connection, the token file's token arrives as "authorization: Bearer <token>", and a client without a
// certificate is refused.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/fake_generative_service.h"
#include "client/genailab_client.h"
#include "common/security/testing/test_pki.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Accepts every call and remembers the last authorization header.
class RecordingProcessor : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* /*context*/,
                       OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) override {
    auto header = metadata.find("authorization");
    absl::MutexLock lock(&mu_);
    authorization_ = header == metadata.end() ? "" : std::string(header->second.data(), header->second.size());
    return grpc::Status::OK;
  }
  std::string authorization() const {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class GenailabClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = (std::filesystem::path(std::getenv("TEST_TMPDIR")) / "pki").string();
    auto pki = CreateTestPki(dir);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
    token_file_ = dir + "/token";
    std::ofstream(token_file_) << "# mine\nclient-token\n";

    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = Read(pki_.ca_cert);
    ssl.pem_key_cert_pairs.push_back({Read(pki_.server_key), Read(pki_.server_cert)});
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
    processor_ = std::make_shared<RecordingProcessor>();
    credentials->SetAuthMetadataProcessor(processor_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    target_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  GenailabClient::Options Options() const {
    GenailabClient::Options options;
    options.target = target_;
    options.timeout = absl::Seconds(20);
    options.tls_ca_file = pki_.ca_cert;
    return options;
  }

  TestPki pki_;
  std::string token_file_;
  std::string target_;
  FakeGenerativeService service_;
  std::shared_ptr<RecordingProcessor> processor_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(GenailabClientTlsTest, CertificateAndTokenReachTheServer) {
  GenailabClient::Options options = Options();
  options.tls_cert_file = pki_.client_cert;
  options.tls_key_file = pki_.client_key;
  options.token_file = token_file_;
  auto client = GenailabClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto models = (*client)->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_FALSE(models->empty());
  EXPECT_EQ(processor_->authorization(), "Bearer client-token");
}

TEST_F(GenailabClientTlsTest, ClientWithoutCertificateIsRefused) {
  auto client = GenailabClient::Create(Options());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->ListModels().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.call_count(), 0);
}

TEST_F(GenailabClientTlsTest, UnreadableKeyIsReportedBeforeAnyRpc) {
  GenailabClient::Options options = Options();
  options.tls_cert_file = pki_.client_cert;
  options.tls_key_file = pki_.client_key + ".missing";
  absl::Status status = GenailabClient::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("tls_key_file: no file"));
}

}  // namespace
}  // namespace genailab
