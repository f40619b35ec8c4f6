#include "common/security/server_security.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/credential_files.h"
#include "common/security/bearer_token_authenticator.h"
#include "common/status_macros.h"
#include "grpcpp/security/server_credentials.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<ServerSecurity>> ServerSecurity::Create(const Options& options) {
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (tls && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(options.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
                                                   ": required together with ",
                                                   options.tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file"));
  }
  if (!tls && !options.tls_client_ca_file.empty()) {
    return absl::InvalidArgumentError("tls_client_ca_file: mutual TLS requires tls_cert_file and tls_key_file");
  }
  if (!tls && !options.token_file.empty()) {
    return absl::InvalidArgumentError(
        "token_file: bearer tokens require TLS (tls_cert_file and tls_key_file); they must not travel in "
        "clear text");
  }
  if (!tls) {
    return std::unique_ptr<ServerSecurity>(new ServerSecurity(grpc::InsecureServerCredentials(), "plaintext"));
  }

  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  GENAILAB_ASSIGN_OR_RETURN(pair.cert_chain, ReadCredentialFile(options.tls_cert_file, "tls_cert_file"));
  GENAILAB_ASSIGN_OR_RETURN(pair.private_key, ReadCredentialFile(options.tls_key_file, "tls_key_file"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  std::string description = "tls";
  if (!options.tls_client_ca_file.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                              ReadCredentialFile(options.tls_client_ca_file, "tls_client_ca_file"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    description = "mutual-tls";
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  if (!options.token_file.empty()) {
    BearerTokenAuthenticator::Options token_options;
    token_options.token_file = options.token_file;
    GENAILAB_ASSIGN_OR_RETURN(std::shared_ptr<BearerTokenAuthenticator> authenticator,
                              BearerTokenAuthenticator::Create(token_options));
    credentials->SetAuthMetadataProcessor(std::move(authenticator));
    absl::StrAppend(&description, "+bearer-token");
  }
  return std::unique_ptr<ServerSecurity>(new ServerSecurity(std::move(credentials), std::move(description)));
}

ServerSecurity::~ServerSecurity() = default;

std::string ServerSecurity::Describe() const { return description_; }

}  // namespace genailab
