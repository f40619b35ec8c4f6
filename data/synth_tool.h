// The genailab-synth command-line tool, as a library: generates a synthetic dataset (see synthetic.h),
// writes it (.h5ad or .csv/.tsv by extension) and writes the true per-cell-type log fold changes beside
// it as `<out without extension>.truth.csv` (genes x cell types). Stateless; thread-compatible.
#ifndef GENAILAB_DATA_SYNTH_TOOL_H_
#define GENAILAB_DATA_SYNTH_TOOL_H_

#include <string>

#include "absl/status/statusor.h"
#include "data/synthetic.h"

namespace genailab {

struct SynthToolOptions {
  // Output file; its extension picks the format (.h5ad, .csv, .tsv, .txt). Required.
  std::string out;
  SyntheticOptions synthetic;
};

// The path of the truth CSV for `out`: its extension replaced by ".truth.csv".
std::string TruthPathFor(const std::string& out);

// Generates and writes both files; returns a one-line summary. INVALID_ARGUMENT for an empty or
// unsupported `out` or out-of-range synthetic options; INTERNAL when a file cannot be written.
absl::StatusOr<std::string> RunSynthTool(const SynthToolOptions& options);

}  // namespace genailab

#endif  // GENAILAB_DATA_SYNTH_TOOL_H_
