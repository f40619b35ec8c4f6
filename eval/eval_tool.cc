#include "eval/eval_tool.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/csv_io.h"
#include "eval/likelihood_evaluation.h"
#include "eval/pairwise_distances.h"
#include "models/disentanglement.h"
#include "trainer/cell_filter.h"

namespace genailab {
namespace {

// The cells of `path` matching `filter` (every cell when it is empty). Errors name the file.
absl::StatusOr<AnnData> ReadCells(const std::string& path, const std::string& layer, const std::string& filter) {
  absl::StatusOr<AnnData> data = ReadExpressionFile(path, layer);
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat(path, ": ", data.status().message()));
  }
  if (filter.empty()) return data;
  GENAILAB_ASSIGN_OR_RETURN(const CellFilter parsed, CellFilter::Parse(filter));
  absl::StatusOr<std::vector<int64_t>> cells = parsed.Matching(*data);
  if (!cells.ok()) {
    return absl::Status(cells.status().code(), absl::StrCat(path, ": ", cells.status().message()));
  }
  if (cells->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no cell matches '", filter, "'"));
  }
  return data->SelectCells(*cells);
}

// The columns of `data` for `genes`, in that order (every gene must be present).
DenseMatrix SelectGenes(const AnnData& data, const std::vector<std::string>& genes) {
  std::map<std::string, int64_t> column_of;
  for (size_t j = 0; j < data.var_names.size(); ++j) column_of.emplace(data.var_names[j], static_cast<int64_t>(j));
  DenseMatrix out(data.n_obs(), static_cast<int64_t>(genes.size()));
  for (size_t g = 0; g < genes.size(); ++g) {
    const int64_t column = column_of.at(genes[g]);
    for (int64_t i = 0; i < data.n_obs(); ++i) out.at(i, static_cast<int64_t>(g)) = data.x.at(i, column);
  }
  return out;
}

absl::StatusOr<nlohmann::json> SamplesSection(const EvalToolOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(const AnnData real, ReadCells(options.real, options.layer, options.real_filter));
  GENAILAB_ASSIGN_OR_RETURN(const AnnData generated,
                            ReadCells(options.generated, options.layer, options.generated_filter));
  // Genes both hold, in the real file's order.
  std::map<std::string, int> in_generated;
  for (const std::string& gene : generated.var_names) in_generated.emplace(gene, 0);
  std::vector<std::string> genes;
  for (const std::string& gene : real.var_names) {
    if (in_generated.count(gene) > 0) genes.push_back(gene);
  }
  if (genes.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(options.real, " and ", options.generated, " share ",
                                                   genes.size(), " gene name(s); at least 2 are needed"));
  }
  DenseMatrix control(0, static_cast<int64_t>(genes.size()));
  if (!options.control_filter.empty()) {
    const std::string& control_path = options.control.empty() ? options.real : options.control;
    GENAILAB_ASSIGN_OR_RETURN(const AnnData control_cells,
                              ReadCells(control_path, options.layer, options.control_filter));
    for (const std::string& gene : genes) {
      if (std::find(control_cells.var_names.begin(), control_cells.var_names.end(), gene) ==
          control_cells.var_names.end()) {
        return absl::InvalidArgumentError(absl::StrCat(control_path, ": lacks gene '", gene, "'"));
      }
    }
    control = SelectGenes(control_cells, genes);
  }
  GENAILAB_ASSIGN_OR_RETURN(const SampleEvaluation evaluation,
                            EvaluateSamples(SelectGenes(real, genes), SelectGenes(generated, genes), control,
                                            options.samples));
  nlohmann::json section = SampleEvaluationToJson(evaluation, genes);
  section["genes"] = genes.size();
  return section;
}

// cells x factors: a numeric obs column as is, a categorical one as codes in order of first appearance.
absl::StatusOr<DenseMatrix> FactorMatrix(const AnnData& data, const std::vector<std::string>& keys) {
  DenseMatrix factors(data.n_obs(), static_cast<int64_t>(keys.size()));
  for (size_t k = 0; k < keys.size(); ++k) {
    const auto numeric = data.obs_numeric.find(keys[k]);
    if (numeric != data.obs_numeric.end()) {
      for (int64_t i = 0; i < data.n_obs(); ++i) factors.at(i, k) = static_cast<float>(numeric->second[i]);
      continue;
    }
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, data.ObsColumn(keys[k]));
    std::map<std::string, int> codes;
    for (int64_t i = 0; i < data.n_obs(); ++i) {
      const int code = codes.emplace((*column)[i], static_cast<int>(codes.size())).first->second;
      factors.at(i, k) = static_cast<float>(code);
    }
  }
  return factors;
}

absl::StatusOr<nlohmann::json> LatentSection(const EvalToolOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(const AnnData data, ReadCells(options.latent, options.layer, ""));
  const auto latent = data.obsm.find(options.latent_key);
  if (latent == data.obsm.end()) {
    return absl::NotFoundError(absl::StrCat(options.latent, ": no obsm '", options.latent_key, "'"));
  }
  absl::StatusOr<const std::vector<std::string>*> labels = data.ObsColumn(options.label_key);
  if (!labels.ok()) {
    return absl::Status(labels.status().code(), absl::StrCat(options.latent, ": ", labels.status().message()));
  }
  // Subsample rows and labels alike: append the row index as a last column, subsample, split again.
  DenseMatrix indexed(latent->second.rows, latent->second.cols + 1);
  for (int64_t i = 0; i < indexed.rows; ++i) {
    std::copy(latent->second.row(i), latent->second.row(i) + latent->second.cols, indexed.row(i));
    indexed.at(i, latent->second.cols) = static_cast<float>(i);
  }
  const DenseMatrix subset = SubsampleRows(indexed, options.max_latent_cells, options.seed);
  DenseMatrix points(subset.rows, latent->second.cols);
  std::vector<std::string> subset_labels;
  for (int64_t i = 0; i < subset.rows; ++i) {
    std::copy(subset.row(i), subset.row(i) + points.cols, points.row(i));
    subset_labels.push_back((**labels)[static_cast<size_t>(subset.at(i, points.cols))]);
  }
  GENAILAB_ASSIGN_OR_RETURN(const double accuracy, KnnLabelAccuracy(points, subset_labels, options.latent_knn));
  nlohmann::json section{{"obsm_key", options.latent_key}, {"label_key", options.label_key},
                         {"cells", points.rows},           {"k", options.latent_knn.k},
                         {"folds", options.latent_knn.folds}, {"knn_accuracy", accuracy}};
  if (options.factor_keys.empty()) return section;
  GENAILAB_ASSIGN_OR_RETURN(const DenseMatrix factors, FactorMatrix(data, options.factor_keys));
  GENAILAB_ASSIGN_OR_RETURN(const double mig, MutualInformationGap(latent->second, factors));
  GENAILAB_ASSIGN_OR_RETURN(const DciScores dci, ComputeDci(latent->second, factors));
  section["factors"] = options.factor_keys;
  section["mig"] = mig;
  section["dci"] = {{"disentanglement", dci.disentanglement},
                    {"completeness", dci.completeness},
                    {"informativeness", dci.informativeness}};
  return section;
}

absl::StatusOr<nlohmann::json> LikelihoodSection(const EvalToolOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(AnnData cells, ReadCells(options.bounds_data, options.layer, options.bounds_filter));
  if (options.max_bounds_cells > 0 && cells.n_obs() > options.max_bounds_cells) {
    const DenseMatrix order = [&] {
      DenseMatrix index(cells.n_obs(), 1);
      for (int64_t i = 0; i < index.rows; ++i) index.at(i, 0) = static_cast<float>(i);
      return SubsampleRows(index, options.max_bounds_cells, options.seed);
    }();
    std::vector<int64_t> rows;
    for (float row : order.values) rows.push_back(static_cast<int64_t>(row));
    cells = cells.SelectCells(rows);
  }
  LikelihoodBoundOptions bound_options;
  bound_options.samples = options.iwae_samples;
  bound_options.seed = options.seed;
  GENAILAB_ASSIGN_OR_RETURN(const LikelihoodBounds bounds,
                            EvaluateCheckpointBounds(options.checkpoint, options.device, cells, bound_options));
  return nlohmann::json{{"checkpoint", options.checkpoint},
                        {"cells", bounds.cells},
                        {"samples", bounds.samples},
                        {"elbo", bounds.elbo},
                        {absl::StrCat("iwae_bound_k", bounds.samples), bounds.iwae},
                        {"iwae", bounds.iwae}};
}

}  // namespace

absl::Status ValidateEvalToolOptions(const EvalToolOptions& options) {
  if (options.real.empty() != options.generated.empty()) {
    return absl::InvalidArgumentError("--real and --generated go together");
  }
  if (!options.control.empty() && options.control_filter.empty()) {
    return absl::InvalidArgumentError("--control needs --control_filter (which cells are the controls)");
  }
  if (options.checkpoint.empty() != options.bounds_data.empty()) {
    return absl::InvalidArgumentError("--checkpoint and --bounds_data go together");
  }
  if (options.real.empty() && options.latent.empty() && options.checkpoint.empty()) {
    return absl::InvalidArgumentError("nothing to evaluate: give --real/--generated, --latent or --checkpoint");
  }
  if (options.iwae_samples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--iwae_samples: must be >= 1, got ", options.iwae_samples));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> RunEvalTool(const EvalToolOptions& options) {
  GENAILAB_RETURN_IF_ERROR(ValidateEvalToolOptions(options));
  nlohmann::json report;
  report["inputs"] = {{"real", options.real},           {"real_filter", options.real_filter},
                      {"generated", options.generated}, {"generated_filter", options.generated_filter},
                      {"control", options.control.empty() ? options.real : options.control},
                      {"control_filter", options.control_filter},
                      {"layer", options.layer},         {"seed", options.seed}};
  if (!options.real.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(report["samples"], SamplesSection(options));
  }
  if (!options.latent.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(report["latent"], LatentSection(options));
  }
  if (!options.checkpoint.empty()) {
    GENAILAB_ASSIGN_OR_RETURN(report["likelihood"], LikelihoodSection(options));
  }
  if (!options.out.empty()) {
    std::ofstream file(options.out);
    file << report.dump(2) << "\n";
    file.close();
    if (!file) return absl::InternalError(absl::StrCat("cannot write the report to ", options.out));
  }
  return report;
}

}  // namespace genailab
