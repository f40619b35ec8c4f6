#include "data/synth_tool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/anndata.h"
#include "data/csv_io.h"

namespace genailab {

std::string TruthPathFor(const std::string& out) {
  const size_t slash = out.rfind('/');
  const size_t dot = out.rfind('.');
  const bool has_extension = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return absl::StrCat(has_extension ? out.substr(0, dot) : out, ".truth.csv");
}

absl::StatusOr<std::string> RunSynthTool(const SynthToolOptions& options) {
  if (options.out.empty()) return absl::InvalidArgumentError("out: required");
  GENAILAB_ASSIGN_OR_RETURN(AnnData data, GenerateSyntheticDataset(options.synthetic));
  GENAILAB_RETURN_IF_ERROR(WriteExpressionFile(options.out, data));

  // The truth table is itself a small "expression" matrix: genes as rows, cell types as columns.
  AnnData truth;
  truth.x = data.varm.at("true_log_fold_change");
  truth.obs_names = data.var_names;
  truth.var_names = data.uns_strings.at("true_log_fold_change_cell_types");
  const std::string truth_path = TruthPathFor(options.out);
  GENAILAB_RETURN_IF_ERROR(WriteCsv(truth_path, truth, ','));

  return absl::StrCat("wrote ", data.n_obs(), " cells x ", data.n_vars(), " genes (",
                      options.synthetic.n_cell_types, " cell types, ", options.synthetic.n_batches,
                      " batches, conditions ", options.synthetic.conditions[0], "/",
                      options.synthetic.conditions[1], ", seed ", options.synthetic.seed, ") to ",
                      options.out, "; true log fold changes to ", truth_path);
}

}  // namespace genailab
