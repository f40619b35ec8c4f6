#include "trainer/cell_filter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "common/status_macros.h"

namespace genailab {

absl::StatusOr<CellFilter> CellFilter::Parse(const std::string& spec) {
  CellFilter filter;
  for (absl::string_view clause : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    clause = absl::StripAsciiWhitespace(clause);
    const size_t eq = clause.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter clause '", clause, "' must be key=value"));
    }
    std::string key(absl::StripAsciiWhitespace(clause.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(clause.substr(eq + 1)));
    if (key.empty() || value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter clause '", clause, "' needs a non-empty key and value"));
    }
    for (const auto& [existing, unused] : filter.clauses_) {
      if (existing == key) {
        return absl::InvalidArgumentError(absl::StrCat("filter key '", key, "' is given twice"));
      }
    }
    filter.clauses_.emplace_back(std::move(key), std::move(value));
  }
  if (filter.clauses_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("filter '", spec, "' has no key=value clause"));
  }
  return filter;
}

absl::StatusOr<std::vector<int64_t>> CellFilter::Matching(const AnnData& data) const {
  std::vector<const std::vector<std::string>*> columns;
  for (const auto& [key, value] : clauses_) {
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, data.ObsColumn(key));
    if (std::find(column->begin(), column->end(), value) == column->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter ", ToString(), ": no cell has ", key, "=", value));
    }
    columns.push_back(column);
  }
  std::vector<int64_t> matching;
  for (int64_t cell = 0; cell < data.n_obs(); ++cell) {
    bool all = true;
    for (size_t k = 0; k < clauses_.size() && all; ++k) {
      all = (*columns[k])[cell] == clauses_[k].second;
    }
    if (all) matching.push_back(cell);
  }
  return matching;
}

std::string CellFilter::ToString() const {
  return absl::StrJoin(clauses_, ",", absl::PairFormatter("="));
}

absl::StatusOr<std::vector<int64_t>> CellsOutsideAll(const AnnData& data,
                                                     const std::vector<CellFilter>& filters) {
  std::vector<bool> excluded(static_cast<size_t>(data.n_obs()), false);
  for (const CellFilter& filter : filters) {
    GENAILAB_ASSIGN_OR_RETURN(std::vector<int64_t> matching, filter.Matching(data));
    for (int64_t cell : matching) excluded[cell] = true;
  }
  std::vector<int64_t> kept;
  for (int64_t cell = 0; cell < data.n_obs(); ++cell) {
    if (!excluded[cell]) kept.push_back(cell);
  }
  return kept;
}

}  // namespace genailab
