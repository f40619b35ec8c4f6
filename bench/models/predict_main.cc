// genailab-bench-predict: the prediction step of the model benchmark (bench/models/run.sh). Reads the raw
// synthetic data set, preprocesses it like the trainer (normalize_total + log1p for counts), takes the
// control cells of the held-out cell type and predicts them under the target condition with one method:
//   model       a checkpoint's PredictPerturbation (VAEs) or BeginPerturbation + StepSessions with the given
//               sampler options (diffusion, flow matching), timed;
//   no_change   the control cells themselves;
//   mean_shift  the control cells plus (mean target - mean control) over the other cell types, per gene.
//   oracle_other_types  a reference, not a method: each control cell's normalized expression times
//               exp(the TRUE log fold change averaged over the other cell types), from the generator's
//               varm/true_log_fold_change; the best that transferring the other types' mean response can do.
// Writes the predictions (.h5ad), optionally the real held-out cells (truth: the held-out type's control
// and target cells, preprocessed) and a JSON line with the timing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/anndata.h"
#include "data/csv_io.h"
#include "data/h5ad_io.h"
#include "data/preprocessing.h"
#include "models/checkpoint.h"

ABSL_FLAG(std::string, data, "", "Raw counts (.h5ad) with obs cell_type and condition.");
ABSL_FLAG(std::string, method, "model", "model, no_change, mean_shift or oracle_other_types.");
ABSL_FLAG(std::string, checkpoint, "", "Model version folder (method=model).");
ABSL_FLAG(std::string, held_out, "", "The held-out cell type.");
ABSL_FLAG(std::string, cell_type_key, "cell_type", "obs column of cell types.");
ABSL_FLAG(std::string, condition_key, "condition", "obs column of conditions.");
ABSL_FLAG(std::string, source, "control", "Source condition.");
ABSL_FLAG(std::string, target, "stimulated", "Target condition.");
ABSL_FLAG(std::string, sampler, "", "Sampler (iterative models; empty = the model's default).");
ABSL_FLAG(int, steps, 0, "Sampling steps (0 = the model's default).");
ABSL_FLAG(double, eta, 0.0, "DDIM eta.");
ABSL_FLAG(double, guidance_scale, 0.0, "Classifier-free guidance scale (0 = the model's default).");
ABSL_FLAG(uint64_t, seed, 0, "Sampling seed.");
ABSL_FLAG(std::string, out, "", "Predicted cells (.h5ad).");
ABSL_FLAG(std::string, truth_out, "", "If set: the held-out type's real source and target cells (.h5ad).");
ABSL_FLAG(std::string, timing_out, "", "If set: appends a JSON line with the timing.");

namespace genailab {
namespace {

struct Options {
  std::string data, method, checkpoint, held_out, cell_type_key, condition_key, source, target;
  SamplerOptions sampler;
  uint64_t seed = 0;
  std::string out, truth_out, timing_out;
};

std::vector<int64_t> Select(const AnnData& data, const Options& options, bool held_out, const std::string& condition) {
  const std::vector<std::string>& types = data.obs.at(options.cell_type_key);
  const std::vector<std::string>& conditions = data.obs.at(options.condition_key);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < data.n_obs(); ++i) {
    if ((types[i] == options.held_out) == held_out && conditions[i] == condition) rows.push_back(i);
  }
  return rows;
}

std::vector<double> Means(const DenseMatrix& x) {
  std::vector<double> means(x.cols, 0.0);
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < x.cols; ++j) means[j] += x.at(i, j) / x.rows;
  }
  return means;
}

// Codes of the source cells for every manifest covariate (values looked up in the obs column).
absl::StatusOr<CovariateCodes> Codes(const ModelManifest& manifest, const AnnData& cells) {
  CovariateCodes codes;
  for (const CovariateSpec& spec : manifest.covariates) {
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, cells.ObsColumn(spec.name));
    std::vector<int64_t> column_codes;
    for (const std::string& value : *column) {
      auto it = std::find(spec.values.begin(), spec.values.end(), value);
      if (it == spec.values.end()) return absl::InvalidArgumentError(absl::StrCat(spec.name, ": unknown ", value));
      column_codes.push_back(it - spec.values.begin());
    }
    codes.push_back(std::move(column_codes));
  }
  return codes;
}

absl::StatusOr<DenseMatrix> PredictWithModel(const Options& options, const AnnData& sources, double* seconds) {
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<GenerativeModel> model, LoadCheckpoint(options.checkpoint, "cpu"));
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, Codes(model->manifest(), sources));
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<DenseMatrix> predicted;
  if (model->Samplers().empty()) {
    predicted = model->PredictPerturbation(sources.x, codes, options.source, options.target,
                                           PerturbationMethod::kDefault, {});
  } else {
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<SamplingSession> session,
                              model->BeginPerturbation(sources.x, codes, options.source, options.target, options.seed,
                                                       options.sampler));
    while (!session->done()) GENAILAB_RETURN_IF_ERROR(model->StepSessions({session.get()}));
    predicted = model->FinishSession(session.get());
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return predicted;
}

// The generator's true log fold change (varm/true_log_fold_change, genes x types, columns named by
// uns/true_log_fold_change_cell_types) averaged over every type but the held-out one.
absl::StatusOr<std::vector<double>> OtherTypesTrueLogFoldChange(const AnnData& data, const Options& options) {
  const auto truth = data.varm.find("true_log_fold_change");
  const auto labels = data.uns_strings.find("true_log_fold_change_cell_types");
  if (truth == data.varm.end() || labels == data.uns_strings.end()) {
    return absl::FailedPreconditionError(
        "oracle_other_types needs varm/true_log_fold_change and uns/true_log_fold_change_cell_types "
        "(a genailab-synth file)");
  }
  std::vector<double> mean(truth->second.rows, 0.0);
  int others = 0;
  for (int64_t t = 0; t < truth->second.cols; ++t) {
    if (labels->second[t] == options.held_out) continue;
    ++others;
    for (int64_t g = 0; g < truth->second.rows; ++g) mean[g] += truth->second.at(g, t);
  }
  if (others == 0) return absl::FailedPreconditionError("oracle_other_types: no cell type besides the held-out one");
  for (double& v : mean) v /= others;
  return mean;
}

absl::Status Run(const Options& options) {
  GENAILAB_ASSIGN_OR_RETURN(AnnData data, ReadExpressionFile(options.data));
  NormalizeTotal(&data.x, 1e4);
  const DenseMatrix normalized = data.x;
  Log1p(&data.x);
  const AnnData sources = data.SelectCells(Select(data, options, true, options.source));
  if (sources.n_obs() == 0) return absl::InvalidArgumentError("no source cells of the held-out type");
  AnnData predicted = sources;
  double seconds = 0.0;
  if (options.method == "model") {
    GENAILAB_ASSIGN_OR_RETURN(predicted.x, PredictWithModel(options, sources, &seconds));
  } else if (options.method == "mean_shift") {
    const std::vector<double> source_means = Means(data.SelectCells(Select(data, options, false, options.source)).x);
    const std::vector<double> target_means = Means(data.SelectCells(Select(data, options, false, options.target)).x);
    for (int64_t i = 0; i < predicted.x.rows; ++i) {
      for (int64_t j = 0; j < predicted.x.cols; ++j) {
        predicted.x.at(i, j) += static_cast<float>(target_means[j] - source_means[j]);
      }
    }
  } else if (options.method == "oracle_other_types") {
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<double> log_fold_change, OtherTypesTrueLogFoldChange(data, options));
    const std::vector<int64_t> rows = Select(data, options, true, options.source);
    for (int64_t i = 0; i < predicted.x.rows; ++i) {
      for (int64_t j = 0; j < predicted.x.cols; ++j) {
        predicted.x.at(i, j) = static_cast<float>(std::log1p(normalized.at(rows[i], j) * std::exp(log_fold_change[j])));
      }
    }
  } else if (options.method != "no_change") {
    return absl::InvalidArgumentError(absl::StrCat(
        "method '", options.method, "' is not one of: model, no_change, mean_shift, oracle_other_types"));
  }
  predicted.obs[options.condition_key].assign(predicted.n_obs(), options.target);
  GENAILAB_RETURN_IF_ERROR(WriteH5ad(options.out, predicted));
  if (!options.truth_out.empty()) {
    std::vector<int64_t> rows = Select(data, options, true, options.source);
    const std::vector<int64_t> targets = Select(data, options, true, options.target);
    rows.insert(rows.end(), targets.begin(), targets.end());
    GENAILAB_RETURN_IF_ERROR(WriteH5ad(options.truth_out, data.SelectCells(rows)));
  }
  if (!options.timing_out.empty()) {
    std::ofstream timing(options.timing_out, std::ios::app);
    timing << "{\"out\": \"" << options.out << "\", \"cells\": " << sources.n_obs() << ", \"seconds\": " << seconds
           << ", \"seconds_per_1000_cells\": " << seconds * 1000.0 / sources.n_obs() << "}\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace genailab

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  genailab::Options options;
  options.data = absl::GetFlag(FLAGS_data);
  options.method = absl::GetFlag(FLAGS_method);
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.held_out = absl::GetFlag(FLAGS_held_out);
  options.cell_type_key = absl::GetFlag(FLAGS_cell_type_key);
  options.condition_key = absl::GetFlag(FLAGS_condition_key);
  options.source = absl::GetFlag(FLAGS_source);
  options.target = absl::GetFlag(FLAGS_target);
  options.sampler.sampler = absl::GetFlag(FLAGS_sampler);
  options.sampler.steps = absl::GetFlag(FLAGS_steps);
  options.sampler.eta = static_cast<float>(absl::GetFlag(FLAGS_eta));
  options.sampler.guidance_scale = static_cast<float>(absl::GetFlag(FLAGS_guidance_scale));
  options.seed = absl::GetFlag(FLAGS_seed);
  options.out = absl::GetFlag(FLAGS_out);
  options.truth_out = absl::GetFlag(FLAGS_truth_out);
  options.timing_out = absl::GetFlag(FLAGS_timing_out);
  const absl::Status status = genailab::Run(options);
  if (!status.ok()) {
    std::fprintf(stderr, "genailab-bench-predict: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
