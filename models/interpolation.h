// Paths through a model's latent and covariate spaces, for counterfactuals and inspection: evenly
// spaced fractions, straight lines between two latents, traversals of one latent axis, and covariate
// weight matrices that blend two values of one covariate (for GenerativeModel::DecodeMixed).
// Torch-free, stateless functions; thread-safe.
#ifndef GENAILAB_MODELS_INTERPOLATION_H_
#define GENAILAB_MODELS_INTERPOLATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "models/generative_model.h"

namespace genailab {

// `steps` evenly spaced values from start to end, both included (steps == 1: just start).
// INVALID_ARGUMENT if steps < 1 or an end is not finite.
absl::StatusOr<std::vector<double>> EvenlySpaced(double start, double end, int steps);

// One row per fraction t: (1 - t) * from + t * to. INVALID_ARGUMENT if the sizes differ.
absl::StatusOr<DenseMatrix> LinearPath(const std::vector<float>& from, const std::vector<float>& to,
                                       const std::vector<double>& fractions);

// One row per value: `base` with dimension `axis` set to the value. INVALID_ARGUMENT naming "axis" when it
// is outside [0, base.size()).
absl::StatusOr<DenseMatrix> AxisTraversal(const std::vector<float>& base, int64_t axis,
                                          const std::vector<double>& values);

// Covariate weights for fractions.size() rows: covariate k (cardinalities[k] values) is one-hot at
// codes[k], except covariate `blended`, whose row for fraction t puts 1 - t on codes[blended] and t on
// to_code. INVALID_ARGUMENT naming the field for a size mismatch or a code out of range.
absl::StatusOr<CovariateWeights> CovariateBlend(const std::vector<int64_t>& cardinalities,
                                                const std::vector<int64_t>& codes, int64_t blended,
                                                int64_t to_code, const std::vector<double>& fractions);

}  // namespace genailab

#endif  // GENAILAB_MODELS_INTERPOLATION_H_
