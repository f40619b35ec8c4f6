// TestPki: a throwaway public-key infrastructure for TLS tests, made at test time with /usr/bin/openssl
// (never checked in): a CA, a server certificate for 127.0.0.1 / localhost signed by it, a client
// certificate signed by it, and a client certificate signed by an unrelated CA (a stranger).
// EC P-256 keys keep generation fast.
#ifndef GENAILAB_COMMON_SECURITY_TESTING_TEST_PKI_H_
#define GENAILAB_COMMON_SECURITY_TESTING_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace genailab {

// Paths of PEM files.
struct TestPki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string stranger_cert;  // Signed by another CA.
  std::string stranger_key;
};

// Writes the files into `directory` (created if needed). INTERNAL naming the openssl command that failed
// (its output is in <directory>/openssl.log).
absl::StatusOr<TestPki> CreateTestPki(const std::string& directory);

}  // namespace genailab

#endif  // GENAILAB_COMMON_SECURITY_TESTING_TEST_PKI_H_
