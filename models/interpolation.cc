#include "models/interpolation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace genailab {

absl::StatusOr<std::vector<double>> EvenlySpaced(double start, double end, int steps) {
  if (steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps: must be >= 1, got ", steps));
  if (!std::isfinite(start) || !std::isfinite(end)) {
    return absl::InvalidArgumentError("start and end must be finite");
  }
  std::vector<double> values(static_cast<size_t>(steps), start);
  for (int i = 1; i < steps; ++i) {
    // The last value is `end` exactly, not start + (steps - 1) * step with rounding.
    values[i] = i == steps - 1 ? end : start + (end - start) * i / (steps - 1);
  }
  return values;
}

absl::StatusOr<DenseMatrix> LinearPath(const std::vector<float>& from, const std::vector<float>& to,
                                       const std::vector<double>& fractions) {
  if (from.size() != to.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("path endpoints differ in size (", from.size(), " vs ", to.size(), ")"));
  }
  DenseMatrix path(static_cast<int64_t>(fractions.size()), static_cast<int64_t>(from.size()));
  for (size_t r = 0; r < fractions.size(); ++r) {
    const double t = fractions[r];
    for (size_t c = 0; c < from.size(); ++c) {
      path.at(r, c) = static_cast<float>((1.0 - t) * from[c] + t * to[c]);
    }
  }
  return path;
}

absl::StatusOr<DenseMatrix> AxisTraversal(const std::vector<float>& base, int64_t axis,
                                          const std::vector<double>& values) {
  if (axis < 0 || axis >= static_cast<int64_t>(base.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("axis: must be in [0, ", base.size(), "), got ", axis));
  }
  DenseMatrix points(static_cast<int64_t>(values.size()), static_cast<int64_t>(base.size()));
  for (size_t r = 0; r < values.size(); ++r) {
    for (size_t c = 0; c < base.size(); ++c) points.at(r, c) = base[c];
    points.at(r, axis) = static_cast<float>(values[r]);
  }
  return points;
}

absl::StatusOr<CovariateWeights> CovariateBlend(const std::vector<int64_t>& cardinalities,
                                                const std::vector<int64_t>& codes, int64_t blended,
                                                int64_t to_code, const std::vector<double>& fractions) {
  if (codes.size() != cardinalities.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("codes: expected ", cardinalities.size(), " (one per covariate), got ", codes.size()));
  }
  if (blended < 0 || blended >= static_cast<int64_t>(codes.size())) {
    return absl::InvalidArgumentError(absl::StrCat("blended covariate ", blended, " out of range"));
  }
  if (to_code < 0 || to_code >= cardinalities[blended]) {
    return absl::InvalidArgumentError(absl::StrCat("to_code: ", to_code, " out of range [0, ",
                                                   cardinalities[blended], ")"));
  }
  const int64_t rows = static_cast<int64_t>(fractions.size());
  CovariateWeights weights;
  for (size_t k = 0; k < codes.size(); ++k) {
    if (codes[k] < 0 || codes[k] >= cardinalities[k]) {
      return absl::InvalidArgumentError(
          absl::StrCat("codes[", k, "]: ", codes[k], " out of range [0, ", cardinalities[k], ")"));
    }
    DenseMatrix matrix(rows, cardinalities[k]);
    for (int64_t r = 0; r < rows; ++r) {
      if (static_cast<int64_t>(k) == blended) {
        matrix.at(r, codes[k]) += static_cast<float>(1.0 - fractions[r]);
        matrix.at(r, to_code) += static_cast<float>(fractions[r]);
      } else {
        matrix.at(r, codes[k]) = 1.0f;
      }
    }
    weights.push_back(std::move(matrix));
  }
  return weights;
}

}  // namespace genailab
