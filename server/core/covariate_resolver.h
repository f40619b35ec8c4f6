// Covariate resolution: per-cell covariate values by name -> CovariateCodes in the manifest's order,
// validated against each covariate's vocabulary. Stateless functions; thread-safe.
#ifndef GENAILAB_SERVER_CORE_COVARIATE_RESOLVER_H_
#define GENAILAB_SERVER_CORE_COVARIATE_RESOLVER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/generative_model.h"
#include "models/model_manifest.h"

namespace genailab {

// columns: covariate name -> one value per cell (`rows` cells). Returns one code column per spec, in
// spec order. INVALID_ARGUMENT naming the field ("<field>[<name>]") for a name the model does not have,
// a column whose length is not `rows`, a missing covariate, or a value outside the vocabulary, e.g.
// "covariates[cell_type]: unknown value 'X' at cell 3; allowed: A, B".
absl::StatusOr<CovariateCodes> ResolveCovariateColumns(
    const std::vector<CovariateSpec>& specs,
    const std::map<std::string, std::vector<std::string>>& columns, int64_t rows,
    const std::string& field = "covariates");

// One value per covariate (e.g. a generation group) -> one code per spec, in spec order. Same errors as
// above, without the cell index.
absl::StatusOr<std::vector<int64_t>> ResolveCovariateValues(
    const std::vector<CovariateSpec>& specs, const std::map<std::string, std::string>& values,
    const std::string& field);

// The position of `value` in `spec.values`, or INVALID_ARGUMENT naming `field` and listing the allowed
// values. `where` (e.g. " at cell 3") is appended to the message after the value.
absl::StatusOr<int64_t> CovariateCode(const CovariateSpec& spec, const std::string& value,
                                      const std::string& field, const std::string& where = "");

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_COVARIATE_RESOLVER_H_
