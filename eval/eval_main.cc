// genailab-eval: quality metrics of generated cells, latent spaces and likelihood bounds, as one JSON
// report. See eval/README.md.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/marshalling.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "eval/eval_tool.h"

ABSL_FLAG(std::string, layer, "X", "matrix read from .h5ad inputs: X, raw/X or layers/<name>");
ABSL_FLAG(std::string, real, "", "real cells (.h5ad/.csv/.tsv)");
ABSL_FLAG(std::string, real_filter, "", "obs selection of the real cells, key=value[,key=value]");
ABSL_FLAG(std::string, generated, "", "generated or predicted cells");
ABSL_FLAG(std::string, generated_filter, "", "obs selection of the generated cells");
ABSL_FLAG(std::string, control, "", "control cells' file (default: --real)");
ABSL_FLAG(std::string, control_filter, "", "obs selection of the control cells (enables top-gene and response R^2)");
ABSL_FLAG(int64_t, top_k, 100, "genes ranked by the Wilcoxon rank-sum test of real vs control");
ABSL_FLAG(std::string, mmd_bandwidths, "", "comma-separated RBF bandwidths (default: median heuristic x 0.25..4)");
ABSL_FLAG(int64_t, max_cells, 1000, "cells per set for MMD, energy distance and k-NN AUC (<= 0 = all)");
ABSL_FLAG(int, knn_k, 5, "neighbours of the k-NN metrics");
ABSL_FLAG(int, folds, 5, "stratified folds of the k-NN metrics");
ABSL_FLAG(std::string, latent, "", "file with an obsm latent space and a label column");
ABSL_FLAG(std::string, latent_key, "X_genailab", "obsm key of the latent space");
ABSL_FLAG(std::string, label_key, "cell_type", "obs column the latent k-NN predicts");
ABSL_FLAG(std::vector<std::string>, factor_keys, {},
          "obs columns holding known generating factors: adds MIG and DCI of the latent space");
ABSL_FLAG(std::string, checkpoint, "", "model version folder (manifest.json + weights) for ELBO / IWAE");
ABSL_FLAG(std::string, bounds_data, "", "cells to score, in the model's input space");
ABSL_FLAG(std::string, bounds_filter, "", "obs selection of the cells to score");
ABSL_FLAG(int, iwae_samples, 50, "importance samples K of the IWAE bound");
ABSL_FLAG(int64_t, max_bounds_cells, 2000, "cells scored at most (seeded subsample; <= 0 = all)");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda, cuda:N or auto");
ABSL_FLAG(uint64_t, seed, 0, "subsampling, folds and importance samples");
ABSL_FLAG(std::string, out, "", "JSON report (default: stdout only)");

namespace genailab {
namespace {

int Run() {
  EvalToolOptions options;
  options.layer = absl::GetFlag(FLAGS_layer);
  options.real = absl::GetFlag(FLAGS_real);
  options.real_filter = absl::GetFlag(FLAGS_real_filter);
  options.generated = absl::GetFlag(FLAGS_generated);
  options.generated_filter = absl::GetFlag(FLAGS_generated_filter);
  options.control = absl::GetFlag(FLAGS_control);
  options.control_filter = absl::GetFlag(FLAGS_control_filter);
  options.samples.top_k_genes = absl::GetFlag(FLAGS_top_k);
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_mmd_bandwidths), ',', absl::SkipWhitespace())) {
    double bandwidth = 0.0;
    if (!absl::SimpleAtod(part, &bandwidth)) {
      std::cerr << "genailab-eval: INVALID_ARGUMENT: --mmd_bandwidths: '" << part << "' is not a number\n";
      return 2;
    }
    options.samples.mmd_bandwidths.push_back(bandwidth);
  }
  options.samples.max_cells = absl::GetFlag(FLAGS_max_cells);
  options.samples.knn = {absl::GetFlag(FLAGS_knn_k), absl::GetFlag(FLAGS_folds), absl::GetFlag(FLAGS_seed)};
  options.samples.seed = absl::GetFlag(FLAGS_seed);
  options.latent = absl::GetFlag(FLAGS_latent);
  options.latent_key = absl::GetFlag(FLAGS_latent_key);
  options.label_key = absl::GetFlag(FLAGS_label_key);
  options.latent_knn = options.samples.knn;
  options.factor_keys = absl::GetFlag(FLAGS_factor_keys);
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.bounds_data = absl::GetFlag(FLAGS_bounds_data);
  options.bounds_filter = absl::GetFlag(FLAGS_bounds_filter);
  options.iwae_samples = absl::GetFlag(FLAGS_iwae_samples);
  options.max_bounds_cells = absl::GetFlag(FLAGS_max_bounds_cells);
  options.device = absl::GetFlag(FLAGS_device);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.out = absl::GetFlag(FLAGS_out);
  absl::Status valid = ValidateEvalToolOptions(options);
  if (!valid.ok()) {
    std::cerr << "genailab-eval: " << valid << "\n";
    return 2;
  }
  absl::StatusOr<nlohmann::json> report = RunEvalTool(options);
  if (!report.ok()) {
    std::cerr << "genailab-eval: " << report.status() << "\n";
    return 1;
  }
  std::cout << report->dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Quality metrics of generated cells, latent spaces and likelihood bounds, as a JSON report.\n"
      "  genailab-eval --real=data.h5ad --real_filter=condition=stim,cell_type=B \\\n"
      "      --generated=pred.h5ad --control_filter=condition=ctrl,cell_type=B --out=report.json");
  absl::ParseCommandLine(argc, argv);
  return genailab::Run();
}
