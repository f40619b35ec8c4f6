// ServerSecurity: the transport security of the gRPC port, built once from files: plaintext, TLS, or
// mutual TLS (clients must present a certificate signed by the given CA), optionally with bearer-token
// authentication (BearerTokenAuthenticator) on top of either TLS mode.
//
// Bearer tokens require TLS: a token sent in clear text is a token given away.
//
// Shared by every gRPC port of the project (genailab-server and genailab-trainer take the same flags:
// --tls_cert, --tls_key, --tls_client_ca, --token_file); ChannelSecurity is the client side.
//
// Ownership: owns the server credentials (shared with the grpc::ServerBuilder that binds with them).
// Thread-safety: immutable after Create().
#ifndef GENAILAB_COMMON_SECURITY_SERVER_SECURITY_H_
#define GENAILAB_COMMON_SECURITY_SERVER_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace genailab {

class ServerSecurity {
 public:
  struct Options {
    // PEM certificate chain and private key of the server. Both or neither; both = TLS.
    std::string tls_cert_file;
    std::string tls_key_file;
    // PEM CA bundle. Set = mutual TLS: a client without a certificate signed by one of these CAs cannot
    // connect. Requires tls_cert_file/tls_key_file.
    std::string tls_client_ca_file;
    // Accepted bearer tokens, one per line. Set = every call except health checks needs
    // "authorization: Bearer <token>". Requires tls_cert_file/tls_key_file.
    std::string token_file;
  };

  // INVALID_ARGUMENT for an inconsistent combination (a key without a certificate or the reverse, a
  // client CA or token file without TLS) or an empty file; NOT_FOUND / PERMISSION_DENIED naming the
  // option whose file is missing or unreadable.
  static absl::StatusOr<std::unique_ptr<ServerSecurity>> Create(const Options& options);

  ~ServerSecurity();
  ServerSecurity(const ServerSecurity&) = delete;
  ServerSecurity& operator=(const ServerSecurity&) = delete;

  // The credentials to bind the gRPC port with.
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }
  // "plaintext", "tls" or "mutual-tls", plus "+bearer-token" when tokens are checked (for logs).
  std::string Describe() const;

  // Implementation details follow.
 private:
  ServerSecurity(std::shared_ptr<grpc::ServerCredentials> credentials, std::string description)
      : credentials_(std::move(credentials)), description_(std::move(description)) {}

  const std::shared_ptr<grpc::ServerCredentials> credentials_;
  const std::string description_;
};

}  // namespace genailab

#endif  // GENAILAB_COMMON_SECURITY_SERVER_SECURITY_H_
