#include "server/core/covariate_resolver.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

std::string SpecNames(const std::vector<CovariateSpec>& specs) {
  if (specs.empty()) return "(none)";
  return absl::StrJoin(specs, ", ", [](std::string* out, const CovariateSpec& spec) {
    out->append(spec.name);
  });
}

// Checks that every given name is a covariate of the model and every covariate is given.
template <typename Map>
absl::Status CheckNames(const std::vector<CovariateSpec>& specs, const Map& given,
                        const std::string& field) {
  for (const auto& entry : given) {
    const bool known = std::any_of(specs.begin(), specs.end(),
                                   [&](const CovariateSpec& spec) { return spec.name == entry.first; });
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", entry.first,
                                                     "]: unknown covariate; model covariates: ",
                                                     SpecNames(specs)));
    }
  }
  for (const CovariateSpec& spec : specs) {
    if (given.count(spec.name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": missing required covariate '", spec.name,
                                                     "'; model covariates: ", SpecNames(specs)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> CovariateCode(const CovariateSpec& spec, const std::string& value,
                                      const std::string& field, const std::string& where) {
  const auto it = std::find(spec.values.begin(), spec.values.end(), value);
  if (it == spec.values.end()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": unknown value '", value, "'", where,
                                                   "; allowed: ", absl::StrJoin(spec.values, ", ")));
  }
  return static_cast<int64_t>(it - spec.values.begin());
}

absl::StatusOr<CovariateCodes> ResolveCovariateColumns(
    const std::vector<CovariateSpec>& specs,
    const std::map<std::string, std::vector<std::string>>& columns, int64_t rows,
    const std::string& field) {
  GENAILAB_RETURN_IF_ERROR(CheckNames(specs, columns, field));
  CovariateCodes codes;
  codes.reserve(specs.size());
  for (const CovariateSpec& spec : specs) {
    const std::string column_field = absl::StrCat(field, "[", spec.name, "]");
    const std::vector<std::string>& values = columns.at(spec.name);
    if (static_cast<int64_t>(values.size()) != rows) {
      return absl::InvalidArgumentError(
          absl::StrCat(column_field, ": ", values.size(), " values for ", rows, " cells"));
    }
    // Vocabularies are small; a per-column map keeps large requests linear.
    absl::flat_hash_map<std::string, int64_t> index;
    for (size_t k = 0; k < spec.values.size(); ++k) index.emplace(spec.values[k], static_cast<int64_t>(k));
    std::vector<int64_t> column;
    column.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const auto it = index.find(values[i]);
      if (it == index.end()) {
        return CovariateCode(spec, values[i], column_field, absl::StrCat(" at cell ", i)).status();
      }
      column.push_back(it->second);
    }
    codes.push_back(std::move(column));
  }
  return codes;
}

absl::StatusOr<std::vector<int64_t>> ResolveCovariateValues(
    const std::vector<CovariateSpec>& specs, const std::map<std::string, std::string>& values,
    const std::string& field) {
  GENAILAB_RETURN_IF_ERROR(CheckNames(specs, values, field));
  std::vector<int64_t> codes;
  codes.reserve(specs.size());
  for (const CovariateSpec& spec : specs) {
    GENAILAB_ASSIGN_OR_RETURN(
        const int64_t code,
        CovariateCode(spec, values.at(spec.name), absl::StrCat(field, "[", spec.name, "]")));
    codes.push_back(code);
  }
  return codes;
}

}  // namespace genailab
