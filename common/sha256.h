// Incremental SHA-256 over OpenSSL's EVP interface, for checkpoint integrity and data fingerprints.
// Not thread-safe: one hasher per thread. Movable, not copyable.
#ifndef GENAILAB_COMMON_SHA256_H_
#define GENAILAB_COMMON_SHA256_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genailab {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t size);
  void Update(absl::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // Lowercase hex digest; the hasher must not be updated afterwards.
  std::string HexDigest();

  // Hex digest of a file's bytes. NOT_FOUND if it cannot be opened, INTERNAL on a read error.
  static absl::StatusOr<std::string> OfFile(const std::string& path);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace genailab

#endif  // GENAILAB_COMMON_SHA256_H_
