// A synthetic single-cell perturbation dataset with known ground truth: cell types x conditions x batches,
// negative-binomial counts, and for every cell type its own known response to the stimulus (a response
// program shared by all cell types plus one specific to each type), so perturbation predictions can be
// scored against the truth.
#ifndef GENAILAB_DATA_SYNTHETIC_H_
#define GENAILAB_DATA_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/anndata.h"

namespace genailab {

struct SyntheticOptions {
  int n_genes = 200;
  int n_cell_types = 4;
  int n_batches = 2;
  // Cells per (cell type, condition, batch).
  int cells_per_group = 150;
  // Condition names; the first is the control.
  std::vector<std::string> conditions = {"control", "stimulated"};
  // Genes affected by the shared response program, and by each cell type's own program.
  int n_shared_response_genes = 20;
  int n_specific_response_genes = 10;
  // Typical |log fold change| of a responding gene.
  double response_log_fold_change = 1.5;
  double batch_effect_sd = 0.1;
  double mean_library_size = 5000;
  double nb_dispersion = 10;  // theta: variance = mu + mu^2 / theta
  uint64_t seed = 0;
};

// Returns raw counts in x; obs columns "cell_type", "condition", "batch" (types named "type_0", ...,
// batches "batch_0", ...); obs_numeric "n_counts"; var names "gene_0000", ...; varm "true_log_fold_change"
// (genes x cell types: the log fold change of the stimulated over the control mean) with its column labels
// in uns_strings "true_log_fold_change_cell_types". The means are of library-normalized expression, so
// non-responding genes share one small common shift (renormalization), not exactly 0. INVALID_ARGUMENT
// naming the option that is out of range; `conditions` must hold exactly two names.
absl::StatusOr<AnnData> GenerateSyntheticDataset(const SyntheticOptions& options);

}  // namespace genailab

#endif  // GENAILAB_DATA_SYNTHETIC_H_
