// genailab-eval: reads cells from .h5ad / .csv files, computes the quality metrics and writes one JSON
// report. Three independent sections, each run when its inputs are given:
//   "samples"     real vs generated cells (EvaluateSamples): R^2 of per-gene means (all genes, top-k
//                 Wilcoxon genes of real vs control, and of responses vs control), MMD, energy distance,
//                 k-NN real-vs-generated AUC. Genes are matched by name (the genes both files hold).
//   "latent"      k-NN accuracy (stratified k-fold) of a label (e.g. cell type) in a latent space stored
//                 as an obsm matrix; with factor_keys, MIG and DCI against those obs columns.
//   "likelihood"  ELBO and IWAE bounds of a checkpoint on cells (EvaluateCheckpointBounds).
// Options are filled from flags by eval_main.cc. Stateless; thread-compatible.
#ifndef GENAILAB_EVAL_EVAL_TOOL_H_
#define GENAILAB_EVAL_EVAL_TOOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "eval/knn_metrics.h"
#include "eval/sample_evaluation.h"

namespace genailab {

struct EvalToolOptions {
  // Matrix read from .h5ad inputs: "X", "raw/X" or "layers/<name>".
  std::string layer = "X";

  // samples: the real (e.g. held-out perturbed) cells and the generated / predicted ones; filters are
  // "key=value[,key=value]" obs selections (trainer/cell_filter.h; empty = every cell).
  std::string real;
  std::string real_filter;
  std::string generated;
  std::string generated_filter;
  // Control cells for the top-gene and response metrics: control_filter selects them from `control`
  // (empty = the real file). No control_filter = no control cells.
  std::string control;
  std::string control_filter;
  SampleEvaluationOptions samples;

  // latent: file holding obsm[latent_key] and obs[label_key].
  std::string latent;
  std::string latent_key = "X_genailab";
  std::string label_key = "cell_type";
  KnnOptions latent_knn;
  // Known generating factors of the cells (obs columns: categorical ones become codes, numeric ones
  // their values): adds MIG and DCI (models/disentanglement.h) of the latent space against them.
  std::vector<std::string> factor_keys;
  // At most this many cells (seeded subsample) for the O(n^2) k-NN; <= 0 = all.
  int64_t max_latent_cells = 5000;

  // likelihood: a checkpoint version folder and the cells (in the model's input space) to score.
  std::string checkpoint;
  std::string bounds_data;
  std::string bounds_filter;
  int iwae_samples = 50;
  uint64_t seed = 0;
  int64_t max_bounds_cells = 2000;
  std::string device = "cpu";

  // The JSON report; empty = only returned.
  std::string out;
};

// INVALID_ARGUMENT naming the option when nothing is to be computed, or a section is half-specified
// (real without generated, bounds_data without checkpoint, ...).
absl::Status ValidateEvalToolOptions(const EvalToolOptions& options);

// Runs every section whose inputs are given and returns (and writes to options.out) the report:
// {"inputs": {...}, "samples": {..., "genes": n}, "latent": {...}, "likelihood": {...}}. Errors of the
// readers and metrics, naming the file; INTERNAL if the report cannot be written.
absl::StatusOr<nlohmann::json> RunEvalTool(const EvalToolOptions& options);

}  // namespace genailab

#endif  // GENAILAB_EVAL_EVAL_TOOL_H_
