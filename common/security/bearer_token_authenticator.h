// BearerTokenAuthenticator: checks "authorization: Bearer <token>" on every incoming gRPC call against
// the tokens of a token file (common/credential_files.h), as a grpc::AuthMetadataProcessor. gRPC runs a
// processor before the call reaches any service, so a refused call never touches a model; the client
// sees UNAUTHENTICATED. Methods under an open prefix (by default the health service, so that load
// balancers and orchestrators can probe without a secret) pass without a token.
//
// gRPC attaches processors to secure credentials only (ServerSecurity requires TLS with tokens), which is
// also the only safe way to carry a bearer token.
//
// Tokens are kept as SHA-256 digests and compared in constant time, so neither memory dumps nor timing
// reveal them. The accepted header is consumed: services never see it.
//
// Thread-safety: immutable after Create(); Authenticate/Process may run on many threads at once.
#ifndef GENAILAB_COMMON_SECURITY_BEARER_TOKEN_AUTHENTICATOR_H_
#define GENAILAB_COMMON_SECURITY_BEARER_TOKEN_AUTHENTICATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "grpcpp/security/auth_metadata_processor.h"

namespace genailab {

class BearerTokenAuthenticator : public grpc::AuthMetadataProcessor {
 public:
  struct Options {
    // Required: the accepted tokens, one per line ('#' comments and blank lines skipped).
    std::string token_file;
    // Full method names (gRPC ":path", "/package.Service/Method") starting with one of these need no token.
    std::vector<std::string> open_method_prefixes = {"/grpc.health.v1.Health/"};
  };

  // Errors of ReadBearerTokens naming "token_file": NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT.
  static absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> Create(const Options& options);

  // OK when `method` is open or `authorization` is "Bearer <an accepted token>" (scheme
  // case-insensitive); UNAUTHENTICATED otherwise, saying whether the header was missing, malformed or
  // held an unknown token (never echoing the token).
  absl::Status Authenticate(absl::string_view method,
                            const absl::optional<absl::string_view>& authorization) const;

  // grpc::AuthMetadataProcessor: the check is an in-memory lookup, so it runs inline.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

  // Implementation details follow.
 private:
  BearerTokenAuthenticator(std::vector<std::string> token_digests, std::vector<std::string> open_prefixes)
      : token_digests_(std::move(token_digests)), open_prefixes_(std::move(open_prefixes)) {}

  const std::vector<std::string> token_digests_;  // Hex SHA-256 of each accepted token.
  const std::vector<std::string> open_prefixes_;
};

}  // namespace genailab

#endif  // GENAILAB_COMMON_SECURITY_BEARER_TOKEN_AUTHENTICATOR_H_
