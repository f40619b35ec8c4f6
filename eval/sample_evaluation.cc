#include "eval/sample_evaluation.h"

#include <cmath>

#include "common/status_macros.h"
#include "eval/distribution_distances.h"
#include "eval/pairwise_distances.h"

namespace genailab {
namespace {

nlohmann::json NumberOrNull(double value) {
  if (std::isfinite(value)) return value;
  return nullptr;
}

}  // namespace

absl::StatusOr<SampleEvaluation> EvaluateSamples(const DenseMatrix& real, const DenseMatrix& generated,
                                                 const DenseMatrix& control,
                                                 const SampleEvaluationOptions& options) {
  GENAILAB_RETURN_IF_ERROR(real.CheckFinite("real"));
  GENAILAB_RETURN_IF_ERROR(generated.CheckFinite("generated"));
  GENAILAB_RETURN_IF_ERROR(control.CheckFinite("control"));
  SampleEvaluation evaluation;
  evaluation.real_cells = real.rows;
  evaluation.generated_cells = generated.rows;
  evaluation.control_cells = control.rows;
  GENAILAB_ASSIGN_OR_RETURN(evaluation.r2,
                            ComputeMeanExpressionR2(real, generated, control, options.top_k_genes));
  // Different seeds for the two sets, so equal-sized sets are not subsampled at the same rows.
  const DenseMatrix real_subset = SubsampleRows(real, options.max_cells, options.seed);
  const DenseMatrix generated_subset = SubsampleRows(generated, options.max_cells, options.seed + 1);
  GENAILAB_ASSIGN_OR_RETURN(MmdResult mmd,
                            MaximumMeanDiscrepancy(real_subset, generated_subset, options.mmd_bandwidths));
  evaluation.mmd_squared = mmd.mmd_squared;
  evaluation.mmd_bandwidths = mmd.bandwidths;
  GENAILAB_ASSIGN_OR_RETURN(evaluation.energy_distance, EnergyDistance(real_subset, generated_subset));
  GENAILAB_ASSIGN_OR_RETURN(evaluation.knn_auc, RealVsGeneratedAuc(real_subset, generated_subset, options.knn));
  return evaluation;
}

nlohmann::json SampleEvaluationToJson(const SampleEvaluation& evaluation,
                                      const std::vector<std::string>& gene_names) {
  nlohmann::json top_genes = nlohmann::json::array();
  for (int64_t gene : evaluation.r2.top_genes) {
    if (gene < static_cast<int64_t>(gene_names.size())) {
      top_genes.push_back(gene_names[static_cast<size_t>(gene)]);
    } else {
      top_genes.push_back(gene);
    }
  }
  return nlohmann::json{
      {"cells",
       {{"real", evaluation.real_cells},
        {"generated", evaluation.generated_cells},
        {"control", evaluation.control_cells}}},
      {"r2",
       {{"mean_all_genes", NumberOrNull(evaluation.r2.r2_all_genes)},
        {"mean_top_genes", NumberOrNull(evaluation.r2.r2_top_genes)},
        {"delta_all_genes", NumberOrNull(evaluation.r2.delta_r2_all_genes)},
        {"delta_top_genes", NumberOrNull(evaluation.r2.delta_r2_top_genes)},
        {"top_k", evaluation.r2.top_genes.size()},
        {"top_genes", top_genes}}},
      {"mmd", {{"mmd_squared", evaluation.mmd_squared}, {"bandwidths", evaluation.mmd_bandwidths}}},
      {"energy_distance", evaluation.energy_distance},
      {"knn_auc", evaluation.knn_auc},
  };
}

}  // namespace genailab
