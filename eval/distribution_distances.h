// Two-sample distances between cell populations (rows = cells, columns = genes or latent dimensions):
// maximum mean discrepancy with a multi-bandwidth RBF kernel and the energy distance. Both are the
// biased (V-statistic) estimators, so two identical sets score exactly 0 and neither is ever negative.
// Stateless functions; thread-safe. Cost O(n * m * cols); subsample large sets first (SubsampleRows).
#ifndef GENAILAB_EVAL_DISTRIBUTION_DISTANCES_H_
#define GENAILAB_EVAL_DISTRIBUTION_DISTANCES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

struct MmdResult {
  // MMD^2 under the kernel k(a, b) = mean over bandwidths s of exp(-|a - b|^2 / (2 s^2)).
  double mmd_squared = 0.0;
  // The bandwidths used (the given ones, or the median-heuristic ones).
  std::vector<double> bandwidths;
};

// MMD^2 = mean k(x, x') + mean k(y, y') - 2 mean k(x, y), all pairs including i == j.
// Empty `bandwidths` means median * {0.25, 0.5, 1, 2, 4}, with median the median pairwise distance of
// the pooled rows (1 if that is 0). INVALID_ARGUMENT if either set is empty, the column counts differ,
// or a bandwidth is not > 0.
absl::StatusOr<MmdResult> MaximumMeanDiscrepancy(const DenseMatrix& x, const DenseMatrix& y,
                                                 const std::vector<double>& bandwidths = {});

// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Euclidean norms, all pairs including i == j).
// INVALID_ARGUMENT if either set is empty or the column counts differ.
absl::StatusOr<double> EnergyDistance(const DenseMatrix& x, const DenseMatrix& y);

}  // namespace genailab

#endif  // GENAILAB_EVAL_DISTRIBUTION_DISTANCES_H_
