// EvaluateSamples: every torch-free quality metric of generated (or predicted) cells against real ones in
// one call, for genailab-eval and for benchmarks that hold their cells in memory:
//   R^2 of per-gene means (all genes, top-k rank-sum genes; and of responses vs control), MMD^2 with a
//   multi-bandwidth RBF kernel, energy distance, and the real-vs-generated k-NN classifier AUC.
// Stateless; thread-safe.
#ifndef GENAILAB_EVAL_SAMPLE_EVALUATION_H_
#define GENAILAB_EVAL_SAMPLE_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "data/matrix.h"
#include "eval/knn_metrics.h"
#include "eval/mean_expression_r2.h"

namespace genailab {

struct SampleEvaluationOptions {
  // Genes ranked by the rank-sum test of real vs control for the "top genes" R^2.
  int64_t top_k_genes = 100;
  // RBF bandwidths for MMD; empty = median heuristic times {0.25, 0.5, 1, 2, 4}.
  std::vector<double> mmd_bandwidths;
  // MMD, energy distance and the k-NN AUC use at most this many cells of each set (seeded subsample);
  // <= 0 = all. The R^2 metrics always use every cell.
  int64_t max_cells = 1000;
  KnnOptions knn;
  uint64_t seed = 0;  // subsampling
};

struct SampleEvaluation {
  int64_t real_cells = 0;
  int64_t generated_cells = 0;
  int64_t control_cells = 0;
  MeanExpressionR2 r2;
  double mmd_squared = 0.0;
  std::vector<double> mmd_bandwidths;
  double energy_distance = 0.0;
  double knn_auc = 0.0;
};

// real, generated, control: cells x genes in one gene order (control may have no rows: then the top-gene
// and response metrics are NaN). INVALID_ARGUMENT naming the set for empty sets, gene-count mismatches,
// non-finite values, or too few cells for the k-NN folds.
absl::StatusOr<SampleEvaluation> EvaluateSamples(const DenseMatrix& real, const DenseMatrix& generated,
                                                 const DenseMatrix& control,
                                                 const SampleEvaluationOptions& options = {});

// {"cells": {...}, "r2": {...}, "mmd": {...}, "energy_distance": ..., "knn_auc": ...}; NaN becomes null.
// gene_names (may be empty) names the top genes.
nlohmann::json SampleEvaluationToJson(const SampleEvaluation& evaluation,
                                      const std::vector<std::string>& gene_names);

}  // namespace genailab

#endif  // GENAILAB_EVAL_SAMPLE_EVALUATION_H_
