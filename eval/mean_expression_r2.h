// R^2 of per-gene mean expression between real and generated (or predicted) cells: the squared Pearson
// correlation of the two vectors of per-gene means, over all genes and over the top-k genes ranked by
// a Wilcoxon rank-sum test of real perturbed against control cells. With control cells, the same on the
// responses (mean minus the control mean), which a "no change" prediction cannot score well on.
// Stateless functions; thread-safe.
#ifndef GENAILAB_EVAL_MEAN_EXPRESSION_R2_H_
#define GENAILAB_EVAL_MEAN_EXPRESSION_R2_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "data/matrix.h"

namespace genailab {

// Squared Pearson correlation. INVALID_ARGUMENT if the sizes differ, fewer than 2 values are given, or
// either vector is constant (the correlation is undefined).
absl::StatusOr<double> SquaredPearson(const std::vector<double>& a, const std::vector<double>& b);

// Per-column means (in double).
std::vector<double> ColumnMeans(const DenseMatrix& matrix);

struct MeanExpressionR2 {
  double r2_all_genes = 0.0;
  double r2_top_genes = 0.0;  // NaN without control cells
  // Response (mean - control mean) R^2; NaN without control cells or when undefined (constant).
  double delta_r2_all_genes = 0.0;
  double delta_r2_top_genes = 0.0;
  // The top-k genes (column indices), most significant first; empty without control cells.
  std::vector<int64_t> top_genes;
};

// real, generated and control: cells x genes in the same gene order. `control` may have no rows (then
// only r2_all_genes is computed). INVALID_ARGUMENT if real or generated has no rows, gene counts differ,
// or r2_all_genes is undefined (see SquaredPearson).
absl::StatusOr<MeanExpressionR2> ComputeMeanExpressionR2(const DenseMatrix& real, const DenseMatrix& generated,
                                                         const DenseMatrix& control, int64_t top_k);

}  // namespace genailab

#endif  // GENAILAB_EVAL_MEAN_EXPRESSION_R2_H_
