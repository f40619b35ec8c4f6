// ChannelSecurity: the client side of ServerSecurity: the credentials a gRPC channel to a genailab port
// (genailab-server or genailab-trainer) is opened with, built from files: plaintext, TLS (the server
// verified against a CA bundle), mutual TLS (plus this client's certificate), and optionally a bearer
// token sent as "authorization: Bearer <token>" with every call. Used by GenailabClient and TrainerClient.
//
// Bearer tokens require TLS: a token sent in clear text is a token given away.
#ifndef GENAILAB_COMMON_SECURITY_CHANNEL_SECURITY_H_
#define GENAILAB_COMMON_SECURITY_CHANNEL_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace genailab {

struct ChannelSecurityOptions {
  // TLS: a PEM CA bundle to verify the server with; set = the channel uses TLS.
  std::string tls_ca_file;
  // Mutual TLS: this client's PEM certificate chain and private key (both or neither; require tls_ca_file).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Sends the file's first token (common/credential_files.h) as "authorization: Bearer <token>". Requires
  // tls_ca_file.
  std::string token_file;
};

// INVALID_ARGUMENT naming the option for tls_cert_file without tls_key_file or the reverse, or
// tls_cert_file / token_file without tls_ca_file; NOT_FOUND / PERMISSION_DENIED / INVALID_ARGUMENT naming
// the option whose file is missing, unreadable or empty.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurityOptions& options);

}  // namespace genailab

#endif  // GENAILAB_COMMON_SECURITY_CHANNEL_SECURITY_H_
