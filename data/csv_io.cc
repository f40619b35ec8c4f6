#include "data/csv_io.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "data/h5ad_io.h"

namespace genailab {
namespace {

enum class FileKind { kH5ad, kCsv, kTsv, kUnknown };

FileKind KindOf(const std::string& path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return FileKind::kUnknown;
  const std::string ext = absl::AsciiStrToLower(path.substr(dot + 1));
  if (ext == "h5ad") return FileKind::kH5ad;
  if (ext == "csv") return FileKind::kCsv;
  if (ext == "tsv" || ext == "txt") return FileKind::kTsv;
  return FileKind::kUnknown;
}

char ResolveDelimiter(const std::string& path, char delimiter) {
  if (delimiter != '\0') return delimiter;
  return KindOf(path) == FileKind::kTsv ? '\t' : ',';
}

// Splits one line, honouring double-quoted fields ("a,b" and "say ""hi""").
std::vector<std::string> SplitLine(const std::string& line, char delimiter) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return fields;
}

std::string QuoteIfNeeded(const std::string& field, char delimiter) {
  if (field.find_first_of(std::string{delimiter, '"', '\n', '\r'}) == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool ParseNumber(const std::string& text, float* value) {
  return absl::SimpleAtof(absl::StripAsciiWhitespace(text), value);
}

}  // namespace

// Leading columns (after the cell name) holding any non-numeric value are read back as string obs
// columns, so that what WriteCsv writes reads back whole; every later column is a gene and must parse.
absl::StatusOr<AnnData> ReadCsv(const std::string& path, char delimiter) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("CSV file '", path, "' cannot be opened"));
  delimiter = ResolveDelimiter(path, delimiter);

  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> line_numbers;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<std::string> fields = SplitLine(line, delimiter);
    if (header.empty()) {
      header = std::move(fields);
      continue;
    }
    if (fields.size() != header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": line ", line_number, " has ", fields.size(),
                                                     " fields, expected ", header.size(),
                                                     " as in the header"));
    }
    rows.push_back(std::move(fields));
    line_numbers.push_back(line_number);
  }
  if (header.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no header line"));

  // Count the leading non-numeric (obs) columns.
  size_t first_gene = 1;
  float unused;
  while (first_gene < header.size()) {
    bool all_numeric = true;
    for (const auto& row : rows) {
      if (!ParseNumber(row[first_gene], &unused)) {
        all_numeric = false;
        break;
      }
    }
    if (all_numeric) break;
    ++first_gene;
  }
  // A file whose last columns are all text has no numeric tail: treat them as genes so the parse error
  // below names the offending cell instead of silently reading zero genes.
  if (first_gene == header.size() && header.size() > 1) first_gene = 1;

  AnnData data;
  data.x = DenseMatrix(static_cast<int64_t>(rows.size()), static_cast<int64_t>(header.size() - first_gene));
  data.var_names.assign(header.begin() + static_cast<std::ptrdiff_t>(first_gene), header.end());
  for (size_t c = 1; c < first_gene; ++c) data.obs[header[c]].reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<std::string>& row = rows[r];
    data.obs_names.push_back(row[0]);
    for (size_t c = 1; c < first_gene; ++c) data.obs[header[c]].push_back(row[c]);
    float* out = data.x.row(static_cast<int64_t>(r));
    for (size_t c = first_gene; c < row.size(); ++c) {
      if (!ParseNumber(row[c], &out[c - first_gene])) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": line ", line_numbers[r], ", column '",
                                                       header[c], "': cannot parse '", row[c],
                                                       "' as a number"));
      }
    }
  }
  return data;
}

// Numeric obs columns (obs_numeric) are not written: they would read back as genes.
absl::Status WriteCsv(const std::string& path, const AnnData& data, char delimiter) {
  GENAILAB_RETURN_IF_ERROR(data.Validate());
  delimiter = ResolveDelimiter(path, delimiter);
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot open '", path, "' for writing"));
  const std::string separator(1, delimiter);

  std::vector<std::string> fields = {""};
  for (const auto& entry : data.obs) fields.push_back(QuoteIfNeeded(entry.first, delimiter));
  for (int64_t c = 0; c < data.n_vars(); ++c) {
    fields.push_back(data.var_names.empty() ? absl::StrCat(c) : QuoteIfNeeded(data.var_names[c], delimiter));
  }
  out << absl::StrJoin(fields, separator) << '\n';
  for (int64_t r = 0; r < data.n_obs(); ++r) {
    fields.clear();
    fields.push_back(data.obs_names.empty() ? absl::StrCat(r) : QuoteIfNeeded(data.obs_names[r], delimiter));
    for (const auto& entry : data.obs) fields.push_back(QuoteIfNeeded(entry.second[r], delimiter));
    const float* row = data.x.row(r);
    // absl::StrCat prints floats with 6 significant digits; keep them exact.
    for (int64_t c = 0; c < data.n_vars(); ++c) {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%.9g", row[c]);
      fields.emplace_back(buffer);
    }
    out << absl::StrJoin(fields, separator) << '\n';
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("failed writing '", path, "'"));
  return absl::OkStatus();
}

absl::StatusOr<AnnData> ReadExpressionFile(const std::string& path, const std::string& layer) {
  switch (KindOf(path)) {
    case FileKind::kH5ad: {
      H5adReadOptions options;
      options.layer = layer;
      return ReadH5ad(path, options);
    }
    case FileKind::kCsv:
    case FileKind::kTsv:
      if (layer != "X") {
        return absl::InvalidArgumentError(absl::StrCat("layer: '", layer, "' requested, but '", path,
                                                       "' is a text file with only one matrix (X)"));
      }
      return ReadCsv(path);
    case FileKind::kUnknown:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", path, "': unknown extension; expected .h5ad, .csv, .tsv or .txt"));
}

absl::Status WriteExpressionFile(const std::string& path, const AnnData& data) {
  switch (KindOf(path)) {
    case FileKind::kH5ad:
      return WriteH5ad(path, data);
    case FileKind::kCsv:
    case FileKind::kTsv:
      return WriteCsv(path, data);
    case FileKind::kUnknown:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", path, "': unknown extension; expected .h5ad, .csv, .tsv or .txt"));
}

}  // namespace genailab
