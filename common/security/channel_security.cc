#include "common/security/channel_security.h"

#include <vector>

#include "common/credential_files.h"
#include "common/status_macros.h"
#include "grpcpp/security/credentials.h"

namespace genailab {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurityOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(options.tls_cert_file.empty()
                                          ? "tls_cert_file: required together with tls_key_file"
                                          : "tls_key_file: required together with tls_cert_file");
  }
  if (options.tls_ca_file.empty()) {
    if (!options.tls_cert_file.empty()) {
      return absl::InvalidArgumentError("tls_cert_file: a client certificate requires tls_ca_file (TLS)");
    }
    if (!options.token_file.empty()) {
      return absl::InvalidArgumentError(
          "token_file: bearer tokens require tls_ca_file (TLS); they must not travel in clear text");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  GENAILAB_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadCredentialFile(options.tls_ca_file, "tls_ca_file"));
  if (!options.tls_cert_file.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadCredentialFile(options.tls_cert_file, "tls_cert_file"));
    GENAILAB_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadCredentialFile(options.tls_key_file, "tls_key_file"));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  if (options.token_file.empty()) return credentials;
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string> tokens,
                            ReadBearerTokens(options.token_file, "token_file"));
  // AccessTokenCredentials sends "authorization: Bearer <token>".
  return grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(tokens.front()));
}

}  // namespace genailab
