// The assembled server behind TLS, mutual TLS and bearer tokens, reached through stubs whose channels are
// built like GenailabClient's (client/genailab_client_tls_test.cc covers the client library's side); and
// model names that try to leave the repository, sent through the RPCs.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/security/testing/test_pki.h"
#include "data/status_matchers.h"
#include "genailab/v1/generative_service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "server/grpc/genailab_server.h"
#include "server/testing/fake_generative_model.h"
#include "server/testing/health_check.grpc.pb.h"

namespace genailab {
namespace {

namespace fs = std::filesystem;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "s3cret-token";

// Every directory the loader was asked to load.
class RecordingLoader {
 public:
  ModelLoader Loader() {
    return [this](const std::string& directory, const std::string& device) {
      {
        absl::MutexLock lock(&mu_);
        directories_.push_back(fs::weakly_canonical(directory).string());
      }
      return FakeModelLoader()(directory, device);
    };
  }
  std::vector<std::string> directories() const {
    absl::MutexLock lock(&mu_);
    return directories_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> directories_ ABSL_GUARDED_BY(mu_);
};

class SecureServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fs::path(std::getenv("TEST_TMPDIR")) / "pki";
    auto pki = CreateTestPki(dir.string());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*pki);
    token_file_ = new std::string((dir / "tokens").string());
    std::ofstream(*token_file_, std::ios::trunc) << kToken << "\n";
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete token_file_;
  }

  void SetUp() override {
    ASSERT_NE(pki_, nullptr);
    const fs::path base = fs::path(std::getenv("TEST_TMPDIR")) /
                          ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(base);
    root_ = base / "repository";
    fs::create_directories(root_);
    WriteFakeVersion(root_.string(), FakeConditionalManifest("cond", 1));
    // A loadable model next to the repository: a traversal that escaped would find it.
    WriteFakeVersion(base.string(), FakeConditionalManifest("etc", 1));
  }

  void StartServer(const ServerSecurity::Options& security) {
    GenailabServer::Options options;
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "";
    options.repository_root = root_.string();
    options.device = "cpu";
    options.loader = loader_.Loader();
    options.security = security;
    auto server = GenailabServer::Create(std::move(options));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    ASSERT_THAT(server_->Start(), IsOk());
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::Now() + absl::Seconds(5));
      server_->Wait();
    }
  }

  std::string Target() const { return absl::StrCat("127.0.0.1:", server_->grpc_port()); }

  // Channel security as a client sees it: CA to trust ("" = plaintext), optional client certificate and
  // bearer token.
  struct ClientSecurity {
    std::string ca;
    std::string cert;
    std::string key;
    std::string token;
  };

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::unique_ptr<v1::GenerativeService::Stub> Stub(const ClientSecurity& security) const {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!security.ca.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = Read(security.ca);
      if (!security.cert.empty()) {
        ssl.pem_cert_chain = Read(security.cert);
        ssl.pem_private_key = Read(security.key);
      }
      credentials = grpc::SslCredentials(ssl);
      if (!security.token.empty()) {
        credentials =
            grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(security.token));
      }
    }
    // A fresh channel per stub: subchannels are not shared between differently secured clients.
    grpc::ChannelArguments arguments;
    arguments.SetInt("grpc.use_local_subchannel_pool", 1);
    return v1::GenerativeService::NewStub(grpc::CreateCustomChannel(Target(), credentials, arguments));
  }

  static grpc::Status ListModels(v1::GenerativeService::Stub* stub, v1::ListModelsResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->ListModels(&context, v1::ListModelsRequest(), response);
  }

  static ServerSecurity::Options Tls() {
    ServerSecurity::Options security;
    security.tls_cert_file = pki_->server_cert;
    security.tls_key_file = pki_->server_key;
    return security;
  }
  static ServerSecurity::Options MutualTls() {
    ServerSecurity::Options security = Tls();
    security.tls_client_ca_file = pki_->ca_cert;
    return security;
  }

  static TestPki* pki_;
  static std::string* token_file_;
  fs::path root_;
  RecordingLoader loader_;
  std::unique_ptr<GenailabServer> server_;
};

TestPki* SecureServerTest::pki_ = nullptr;
std::string* SecureServerTest::token_file_ = nullptr;

TEST_F(SecureServerTest, TlsServesATlsClientAndRefusesAPlaintextOne) {
  StartServer(Tls());
  v1::ListModelsResponse models;
  const grpc::Status status = ListModels(Stub({pki_->ca_cert, "", "", ""}).get(), &models);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "cond");

  EXPECT_EQ(ListModels(Stub({}).get(), &models).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecureServerTest, MutualTlsRefusesClientsWithoutATrustedCertificate) {
  StartServer(MutualTls());
  v1::ListModelsResponse models;
  EXPECT_EQ(ListModels(Stub({pki_->ca_cert, "", "", ""}).get(), &models).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListModels(Stub({pki_->ca_cert, pki_->stranger_cert, pki_->stranger_key, ""}).get(), &models)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  const grpc::Status trusted =
      ListModels(Stub({pki_->ca_cert, pki_->client_cert, pki_->client_key, ""}).get(), &models);
  EXPECT_TRUE(trusted.ok()) << trusted.error_message();
  EXPECT_EQ(models.models_size(), 1);
}

TEST_F(SecureServerTest, BearerTokenRefusesMissingAndWrongTokensAndServesTheRightOne) {
  ServerSecurity::Options security = MutualTls();
  security.token_file = *token_file_;
  StartServer(security);
  v1::ListModelsResponse models;
  grpc::Status status = ListModels(Stub({pki_->ca_cert, pki_->client_cert, pki_->client_key, ""}).get(), &models);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("missing 'authorization"));

  status = ListModels(Stub({pki_->ca_cert, pki_->client_cert, pki_->client_key, "not-the-token"}).get(), &models);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown bearer token"));

  status = ListModels(Stub({pki_->ca_cert, pki_->client_cert, pki_->client_key, kToken}).get(), &models);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(models.models_size(), 1);
}

TEST_F(SecureServerTest, HealthChecksNeedNoToken) {
  ServerSecurity::Options security = Tls();
  security.token_file = *token_file_;
  StartServer(security);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Read(pki_->ca_cert);
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(Target(), grpc::SslCredentials(ssl)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(SecureServerTest, ModelNamesThatLeaveTheRepositoryAreInvalidAndReadNothing) {
  StartServer(ServerSecurity::Options());
  auto stub = v1::GenerativeService::NewStub(grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials()));
  for (const std::string& name : {std::string("../etc"), std::string(".."), std::string("/etc"),
                                  std::string("cond/../../etc")}) {
    SCOPED_TRACE(name);
    {
      grpc::ClientContext context;
      v1::GetModelRequest request;
      request.mutable_model()->set_name(name);
      v1::GetModelResponse response;
      const grpc::Status status = stub->GetModel(&context, request, &response);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat("'", name, "'")));
    }
    {
      grpc::ClientContext context;
      v1::LoadModelRequest request;
      request.mutable_model()->set_name(name);
      v1::LoadModelResponse response;
      const grpc::Status status = stub->LoadModel(&context, request, &response);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat("'", name, "'")));
    }
  }
  // Only the repository's own model was ever loaded.
  EXPECT_THAT(loader_.directories(), Each(StartsWith(fs::weakly_canonical(root_).string() + "/")));
  EXPECT_EQ(loader_.directories().size(), 1u);
}

}  // namespace
}  // namespace genailab
