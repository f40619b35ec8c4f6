#include "common/credential_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace genailab {

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty path"));
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(field, ": no file '", path, "'"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(field, ": cannot open '", path, "'"));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (contents.str().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' is empty"));
  return contents.str();
}

absl::StatusOr<std::vector<std::string>> ReadBearerTokens(const std::string& path, absl::string_view field) {
  GENAILAB_ASSIGN_OR_RETURN(const std::string contents, ReadCredentialFile(path, field));
  std::vector<std::string> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    for (char c : line) {
      if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": line ", line_number, " of '", path, "' holds whitespace inside a token"));
      }
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' holds no token"));
  return tokens;
}

}  // namespace genailab
