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
  // Cell-state-dependent response (0 = off: every cell of a type responds alike). When > 0, each cell has
  // a responsiveness state u = m[type] + N(0, responsiveness_cell_sd), visible in both conditions through
  // a program of this many "receptor" genes (logit + kReceptorLogShift * u), and its whole response is
  // scaled by 2 * sigmoid(u) (1 at u = 0). The per-type means m[type] are evenly spaced over
  // [-responsiveness_type_spread, +responsiveness_type_spread] in a seeded random order, so a held-out
  // type responds more or less strongly than the others on average, and only a model that learns how the
  // response follows the receptor program, within the training types, can predict by how much.
  int n_responsiveness_genes = 0;
  double responsiveness_type_spread = 1.0;
  double responsiveness_cell_sd = 0.75;
  uint64_t seed = 0;
};

// Returns raw counts in x; obs columns "cell_type", "condition", "batch" (types named "type_0", ...,
// batches "batch_0", ...); obs_numeric "n_counts"; var names "gene_0000", ...; varm "true_log_fold_change"
// (genes x cell types: the log fold change of the stimulated over the control mean) with its column labels
// in uns_strings "true_log_fold_change_cell_types". The means are of library-normalized expression, so
// non-responding genes share one small common shift (renormalization), not exactly 0. With
// n_responsiveness_genes > 0, obs_numeric also holds each cell's "responsiveness" u (ground truth, not a
// covariate to train on), and the truth is the log fold change of the per-type means of the cells' expected
// normalized expression (exact given the drawn states u). INVALID_ARGUMENT
// naming the option that is out of range; `conditions` must hold exactly two names.
absl::StatusOr<AnnData> GenerateSyntheticDataset(const SyntheticOptions& options);

}  // namespace genailab

#endif  // GENAILAB_DATA_SYNTHETIC_H_
