#include "eval/likelihood_evaluation.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/preprocessing.h"
#include "models/checkpoint.h"

namespace genailab {

absl::StatusOr<ModelSpaceCells> ToModelSpace(const ModelManifest& manifest, const AnnData& cells) {
  GENAILAB_RETURN_IF_ERROR(cells.Validate());
  if (cells.n_obs() == 0) return absl::InvalidArgumentError("cells: no cells");
  std::map<std::string, int64_t> column_of;
  for (size_t j = 0; j < cells.var_names.size(); ++j) column_of.emplace(cells.var_names[j], static_cast<int64_t>(j));
  ModelSpaceCells out;
  const int64_t genes = static_cast<int64_t>(manifest.gene_names.size());
  out.x = DenseMatrix(cells.n_obs(), genes);
  for (int64_t g = 0; g < genes; ++g) {
    const auto it = column_of.find(manifest.gene_names[static_cast<size_t>(g)]);
    if (it == column_of.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cells: lack the model gene '", manifest.gene_names[static_cast<size_t>(g)], "'"));
    }
    for (int64_t i = 0; i < cells.n_obs(); ++i) out.x.at(i, g) = cells.x.at(i, it->second);
  }
  if (manifest.likelihood == "negative_binomial") out.counts = out.x;
  if (manifest.preprocessing.normalize_total > 0) NormalizeTotal(&out.x, manifest.preprocessing.normalize_total);
  if (manifest.preprocessing.log1p) Log1p(&out.x);
  if (manifest.model_type != "cvae") return out;
  for (const CovariateSpec& spec : manifest.covariates) {
    GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string>* column, cells.ObsColumn(spec.name));
    std::vector<int64_t> codes;
    codes.reserve(column->size());
    for (size_t i = 0; i < column->size(); ++i) {
      const auto it = std::find(spec.values.begin(), spec.values.end(), (*column)[i]);
      if (it == spec.values.end()) {
        return absl::InvalidArgumentError(absl::StrCat("cells: obs '", spec.name, "' value '", (*column)[i],
                                                       "' at cell ", i, " is not in the model's vocabulary"));
      }
      codes.push_back(it - spec.values.begin());
    }
    out.covariates.push_back(std::move(codes));
  }
  return out;
}

absl::StatusOr<LikelihoodBounds> EvaluateCheckpointBounds(const std::string& checkpoint, const std::string& device,
                                                          const AnnData& cells, const LikelihoodBoundOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<GenerativeModel> model, LoadCheckpoint(checkpoint, device));
  GENAILAB_ASSIGN_OR_RETURN(ModelSpaceCells input, ToModelSpace(model->manifest(), cells));
  return model->EstimateLikelihoodBounds(input.x, input.counts, input.covariates, options);
}

}  // namespace genailab
