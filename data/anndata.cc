#include "data/anndata.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

// Empty name lists mean "unnamed" and are allowed; otherwise the length must match.
absl::Status CheckNames(const std::vector<std::string>& names, int64_t expected, const std::string& field) {
  if (!names.empty() && static_cast<int64_t>(names.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": has ", names.size(), " entries, expected ", expected));
  }
  return absl::OkStatus();
}

template <typename T>
std::vector<T> Select(const std::vector<T>& values, const std::vector<int64_t>& indices) {
  std::vector<T> out;
  out.reserve(indices.size());
  for (int64_t i : indices) out.push_back(values[static_cast<size_t>(i)]);
  return out;
}

}  // namespace

absl::Status AnnData::Validate() const {
  GENAILAB_RETURN_IF_ERROR(x.Validate("x"));
  GENAILAB_RETURN_IF_ERROR(CheckNames(obs_names, n_obs(), "obs_names"));
  GENAILAB_RETURN_IF_ERROR(CheckNames(var_names, n_vars(), "var_names"));
  for (const auto& [name, column] : obs) {
    if (static_cast<int64_t>(column.size()) != n_obs()) {
      return absl::InvalidArgumentError(
          absl::StrCat("obs['", name, "']: has ", column.size(), " values, expected n_obs = ", n_obs()));
    }
  }
  for (const auto& [name, column] : obs_numeric) {
    if (static_cast<int64_t>(column.size()) != n_obs()) {
      return absl::InvalidArgumentError(absl::StrCat("obs_numeric['", name, "']: has ", column.size(),
                                                     " values, expected n_obs = ", n_obs()));
    }
  }
  for (const auto& [name, matrix] : obsm) {
    const std::string field = absl::StrCat("obsm['", name, "']");
    GENAILAB_RETURN_IF_ERROR(matrix.Validate(field));
    if (matrix.rows != n_obs()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": has ", matrix.rows, " rows, expected n_obs = ", n_obs()));
    }
  }
  for (const auto& [name, matrix] : varm) {
    const std::string field = absl::StrCat("varm['", name, "']");
    GENAILAB_RETURN_IF_ERROR(matrix.Validate(field));
    if (matrix.rows != n_vars()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": has ", matrix.rows, " rows, expected n_vars = ", n_vars()));
    }
  }
  return absl::OkStatus();
}

AnnData AnnData::SelectCells(const std::vector<int64_t>& indices) const {
  AnnData out;
  out.x = x.SelectRows(indices);
  if (!obs_names.empty()) out.obs_names = Select(obs_names, indices);
  out.var_names = var_names;
  for (const auto& [name, column] : obs) out.obs[name] = Select(column, indices);
  for (const auto& [name, column] : obs_numeric) out.obs_numeric[name] = Select(column, indices);
  for (const auto& [name, matrix] : obsm) out.obsm[name] = matrix.SelectRows(indices);
  out.varm = varm;
  out.uns_strings = uns_strings;
  return out;
}

absl::StatusOr<const std::vector<std::string>*> AnnData::ObsColumn(const std::string& name) const {
  auto it = obs.find(name);
  if (it == obs.end()) {
    std::vector<std::string> names;
    for (const auto& entry : obs) names.push_back(entry.first);
    return absl::NotFoundError(
        absl::StrCat("obs column '", name, "' not found; available: [", absl::StrJoin(names, ", "), "]"));
  }
  return &it->second;
}

}  // namespace genailab
