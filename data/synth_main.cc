// genailab-synth: writes a synthetic single-cell perturbation dataset with known per-cell-type responses.
//   genailab-synth --out=/tmp/synth.h5ad --genes=200 --cell_types=4 --seed=1
// Besides --out it writes <out without extension>.truth.csv (genes x cell types true log fold changes).
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "data/synth_tool.h"

namespace {
const genailab::SyntheticOptions kDefaults;
}  // namespace

ABSL_FLAG(std::string, out, "", "Output file (.h5ad, .csv or .tsv). Required.");
ABSL_FLAG(int, genes, kDefaults.n_genes, "Number of genes.");
ABSL_FLAG(int, cell_types, kDefaults.n_cell_types, "Number of cell types.");
ABSL_FLAG(int, batches, kDefaults.n_batches, "Number of batches.");
ABSL_FLAG(int, cells_per_group, kDefaults.cells_per_group, "Cells per (cell type, condition, batch).");
ABSL_FLAG(std::string, conditions, "control,stimulated", "Control and stimulus condition names.");
ABSL_FLAG(int, shared_response_genes, kDefaults.n_shared_response_genes,
          "Genes in the response program shared by all cell types.");
ABSL_FLAG(int, specific_response_genes, kDefaults.n_specific_response_genes,
          "Genes in each cell type's own response program.");
ABSL_FLAG(double, response_log_fold_change, kDefaults.response_log_fold_change,
          "Typical |log fold change| of a responding gene.");
ABSL_FLAG(double, batch_effect_sd, kDefaults.batch_effect_sd, "SD of per-gene log batch shifts.");
ABSL_FLAG(double, mean_library_size, kDefaults.mean_library_size, "Mean total counts per cell.");
ABSL_FLAG(double, nb_dispersion, kDefaults.nb_dispersion, "Negative binomial theta.");
ABSL_FLAG(int, responsiveness_genes, kDefaults.n_responsiveness_genes,
          "Cell-state-dependent response: genes of the receptor program that marks each cell's "
          "responsiveness (0 = off; see data/synthetic.h).");
ABSL_FLAG(double, responsiveness_type_spread, kDefaults.responsiveness_type_spread,
          "Per-type mean responsiveness spans [-spread, +spread].");
ABSL_FLAG(double, responsiveness_cell_sd, kDefaults.responsiveness_cell_sd,
          "SD of responsiveness between cells of one type.");
ABSL_FLAG(uint64_t, seed, kDefaults.seed, "Random seed; the same seed gives the same dataset.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes a synthetic single-cell perturbation dataset with known truth.");
  absl::ParseCommandLine(argc, argv);

  genailab::SynthToolOptions options;
  options.out = absl::GetFlag(FLAGS_out);
  genailab::SyntheticOptions& s = options.synthetic;
  s.n_genes = absl::GetFlag(FLAGS_genes);
  s.n_cell_types = absl::GetFlag(FLAGS_cell_types);
  s.n_batches = absl::GetFlag(FLAGS_batches);
  s.cells_per_group = absl::GetFlag(FLAGS_cells_per_group);
  s.conditions = absl::StrSplit(absl::GetFlag(FLAGS_conditions), ',');
  s.n_shared_response_genes = absl::GetFlag(FLAGS_shared_response_genes);
  s.n_specific_response_genes = absl::GetFlag(FLAGS_specific_response_genes);
  s.response_log_fold_change = absl::GetFlag(FLAGS_response_log_fold_change);
  s.batch_effect_sd = absl::GetFlag(FLAGS_batch_effect_sd);
  s.mean_library_size = absl::GetFlag(FLAGS_mean_library_size);
  s.nb_dispersion = absl::GetFlag(FLAGS_nb_dispersion);
  s.n_responsiveness_genes = absl::GetFlag(FLAGS_responsiveness_genes);
  s.responsiveness_type_spread = absl::GetFlag(FLAGS_responsiveness_type_spread);
  s.responsiveness_cell_sd = absl::GetFlag(FLAGS_responsiveness_cell_sd);
  s.seed = absl::GetFlag(FLAGS_seed);

  const absl::StatusOr<std::string> summary = genailab::RunSynthTool(options);
  if (!summary.ok()) {
    std::cerr << "genailab-synth: " << summary.status() << "\n";
    return 1;
  }
  std::cout << *summary << "\n";
  return 0;
}
