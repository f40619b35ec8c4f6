// The Wilcoxon rank-sum (Mann-Whitney U) test, and the ranking of genes by it (real perturbed cells
// against control cells, as scanpy's rank_genes_groups(method="wilcoxon") does).
// Stateless functions; thread-safe.
#ifndef GENAILAB_EVAL_WILCOXON_RANK_SUM_H_
#define GENAILAB_EVAL_WILCOXON_RANK_SUM_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

struct RankSumResult {
  // U of sample a: (sum of a's ranks in the pooled sample, ties averaged) - n_a (n_a + 1) / 2.
  double u = 0.0;
  // (U - n_a n_b / 2) / sd, with the tie-corrected variance and no continuity correction; positive when
  // a tends to be larger. 0 when every value is tied.
  double z = 0.0;
  // Two-sided p-value of z under the normal approximation.
  double p_value = 1.0;
};

// INVALID_ARGUMENT if either sample is empty.
absl::StatusOr<RankSumResult> WilcoxonRankSum(const std::vector<double>& a, const std::vector<double>& b);

// The columns (genes) ranked by |z| of the rank-sum test of `perturbed` against `control`, largest
// first (ties by column index), at most `k` of them (all when k <= 0). INVALID_ARGUMENT if a matrix has
// no rows or the column counts differ.
absl::StatusOr<std::vector<int64_t>> TopGenesByRankSum(const DenseMatrix& perturbed, const DenseMatrix& control,
                                                       int64_t k);

}  // namespace genailab

#endif  // GENAILAB_EVAL_WILCOXON_RANK_SUM_H_
