#include "common/security/bearer_token_authenticator.h"

#include <openssl/crypto.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/credential_files.h"
#include "common/grpc/status_conversion.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

constexpr char kAuthorizationHeader[] = "authorization";
constexpr char kPathHeader[] = ":path";
constexpr absl::string_view kBearerScheme = "bearer ";

std::string Digest(absl::string_view token) {
  Sha256 sha;
  sha.Update(token);
  return sha.HexDigest();
}

}  // namespace

absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> BearerTokenAuthenticator::Create(
    const Options& options) {
  GENAILAB_ASSIGN_OR_RETURN(std::vector<std::string> tokens, ReadBearerTokens(options.token_file, "token_file"));
  std::vector<std::string> digests;
  digests.reserve(tokens.size());
  for (const std::string& token : tokens) digests.push_back(Digest(token));
  return std::shared_ptr<BearerTokenAuthenticator>(
      new BearerTokenAuthenticator(std::move(digests), options.open_method_prefixes));
}

absl::Status BearerTokenAuthenticator::Authenticate(
    absl::string_view method, const absl::optional<absl::string_view>& authorization) const {
  for (const std::string& prefix : open_prefixes_) {
    if (absl::StartsWith(method, prefix)) return absl::OkStatus();
  }
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing 'authorization: Bearer <token>' metadata for ", method));
  }
  if (authorization->size() <= kBearerScheme.size() ||
      !absl::EqualsIgnoreCase(authorization->substr(0, kBearerScheme.size()), kBearerScheme)) {
    return absl::UnauthenticatedError("authorization metadata is not of the form 'Bearer <token>'");
  }
  const std::string presented =
      Digest(absl::StripAsciiWhitespace(authorization->substr(kBearerScheme.size())));
  bool accepted = false;
  // Every digest is compared, whatever matched, so the time taken says nothing about the tokens.
  for (const std::string& digest : token_digests_) {
    accepted |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
  }
  if (!accepted) return absl::UnauthenticatedError("unknown bearer token");
  return absl::OkStatus();
}

grpc::Status BearerTokenAuthenticator::Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                                               OutputMetadata* consumed_auth_metadata,
                                               OutputMetadata* /*response_metadata*/) {
  std::string method;
  if (auto path = auth_metadata.find(kPathHeader); path != auth_metadata.end()) {
    method.assign(path->second.data(), path->second.size());
  }
  absl::optional<absl::string_view> authorization;
  auto header = auth_metadata.find(kAuthorizationHeader);
  if (header != auth_metadata.end()) authorization.emplace(header->second.data(), header->second.size());
  const absl::Status status = Authenticate(method, authorization);
  if (status.ok() && authorization.has_value()) {
    consumed_auth_metadata->emplace(kAuthorizationHeader, std::string(*authorization));
  }
  return ToGrpcStatus(status);
}

}  // namespace genailab
