#include "common/security/testing/test_pki.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

class Pki {
 public:
  explicit Pki(std::string directory) : dir_(std::move(directory)), log_(dir_ + "/openssl.log") {}

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  absl::Status Run(const std::string& arguments) const {
    const std::string command = absl::StrCat(kOpenssl, " ", arguments, " >>", log_, " 2>&1");
    if (std::system(command.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("'", command, "' failed; see ", log_));
    }
    return absl::OkStatus();
  }

  // A self-signed CA <name>.pem / <name>.key.
  absl::Status MakeCa(const std::string& name) const {
    return Run(absl::StrCat("req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 ",
                            "-subj /CN=", name, " -keyout ", Path(name + ".key"), " -out ",
                            Path(name + ".pem")));
  }

  // A leaf <name>.pem / <name>.key signed by CA `ca`, with the given subjectAltName ("" = none).
  absl::Status MakeLeaf(const std::string& name, const std::string& ca, const std::string& san) const {
    GENAILAB_RETURN_IF_ERROR(Run(absl::StrCat("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ",
                                              "-subj /CN=", name, " -keyout ", Path(name + ".key"), " -out ",
                                              Path(name + ".csr"))));
    std::string extensions;
    if (!san.empty()) {
      extensions = Path(name + ".ext");
      std::ofstream(extensions) << "subjectAltName=" << san << "\n";
    }
    return Run(absl::StrCat("x509 -req -days 2 -in ", Path(name + ".csr"), " -CA ", Path(ca + ".pem"),
                            " -CAkey ", Path(ca + ".key"), " -CAcreateserial -out ", Path(name + ".pem"),
                            extensions.empty() ? "" : absl::StrCat(" -extfile ", extensions)));
  }

 private:
  const std::string dir_;
  const std::string log_;
};

}  // namespace

absl::StatusOr<TestPki> CreateTestPki(const std::string& directory) {
  std::filesystem::create_directories(directory);
  Pki pki(directory);
  GENAILAB_RETURN_IF_ERROR(pki.MakeCa("ca"));
  GENAILAB_RETURN_IF_ERROR(pki.MakeCa("stranger_ca"));
  GENAILAB_RETURN_IF_ERROR(pki.MakeLeaf("server", "ca", "IP:127.0.0.1,DNS:localhost"));
  GENAILAB_RETURN_IF_ERROR(pki.MakeLeaf("client", "ca", ""));
  GENAILAB_RETURN_IF_ERROR(pki.MakeLeaf("stranger", "stranger_ca", ""));
  TestPki result;
  result.ca_cert = pki.Path("ca.pem");
  result.server_cert = pki.Path("server.pem");
  result.server_key = pki.Path("server.key");
  result.client_cert = pki.Path("client.pem");
  result.client_key = pki.Path("client.key");
  result.stranger_cert = pki.Path("stranger.pem");
  result.stranger_key = pki.Path("stranger.key");
  return result;
}

}  // namespace genailab
