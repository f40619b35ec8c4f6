#include "models/diffusion/vae_latent_space.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace genailab {

VaeLatentSpace::VaeLatentSpace(std::shared_ptr<const GenerativeModel> vae, std::vector<int> vae_columns,
                               std::vector<int64_t> cardinalities)
    : vae_(std::move(vae)), vae_columns_(std::move(vae_columns)), cardinalities_(std::move(cardinalities)) {}

absl::StatusOr<std::unique_ptr<VaeLatentSpace>> VaeLatentSpace::Create(const ModelManifest& manifest,
                                                                       std::shared_ptr<const GenerativeModel> vae) {
  if (vae == nullptr) return absl::InvalidArgumentError("vae: no VAE given for representation vae_latent");
  const ModelManifest& vae_manifest = vae->manifest();
  if (vae_manifest.model_type != "vae" && vae_manifest.model_type != "cvae") {
    return absl::InvalidArgumentError(absl::StrCat("vae: model_type is \"", vae_manifest.model_type,
                                                   "\"; representation vae_latent needs a vae or cvae"));
  }
  if (vae_manifest.latent_dim <= 0) return absl::InvalidArgumentError("vae: latent_dim must be positive");
  if (vae_manifest.gene_names != manifest.gene_names) {
    return absl::InvalidArgumentError(absl::StrCat("vae: its ", vae_manifest.gene_names.size(),
                                                   " genes differ from the training data's ",
                                                   manifest.gene_names.size(), " (names or order)"));
  }
  const Preprocessing& a = vae_manifest.preprocessing;
  const Preprocessing& b = manifest.preprocessing;
  if (a.input_space != b.input_space || a.normalize_total != b.normalize_total || a.log1p != b.log1p) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vae: preprocessing differs (VAE input_space=", a.input_space, " normalize_total=", a.normalize_total,
        " log1p=", a.log1p, "; data input_space=", b.input_space, " normalize_total=", b.normalize_total,
        " log1p=", b.log1p, ")"));
  }
  std::vector<int> columns;
  std::vector<int64_t> cardinalities;
  for (const CovariateSpec& spec : vae_manifest.covariates) {
    const int index = manifest.CovariateIndex(spec.name);
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("vae: it is conditioned on covariate \"", spec.name,
                                                     "\", which the model's covariates (",
                                                     manifest.covariates.size(), ") lack"));
    }
    if (manifest.covariates[index].values != spec.values) {
      return absl::InvalidArgumentError(absl::StrCat("vae: covariate \"", spec.name, "\" has values [",
                                                     absl::StrJoin(spec.values, ","), "] but the data has [",
                                                     absl::StrJoin(manifest.covariates[index].values, ","), "]"));
    }
    columns.push_back(index);
    cardinalities.push_back(static_cast<int64_t>(spec.values.size()));
  }
  return std::unique_ptr<VaeLatentSpace>(new VaeLatentSpace(std::move(vae), std::move(columns),
                                                            std::move(cardinalities)));
}

absl::StatusOr<CovariateCodes> VaeLatentSpace::VaeCodes(const CovariateCodes& covariates, int64_t rows) const {
  CovariateCodes codes;
  for (size_t k = 0; k < vae_columns_.size(); ++k) {
    const int column = vae_columns_[k];
    const std::string& name = vae_->manifest().covariates[k].name;
    if (column >= static_cast<int>(covariates.size()) ||
        static_cast<int64_t>(covariates[column].size()) != rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("covariates: the latent decoder (a cVAE) needs \"", name, "\" for every cell"));
    }
    for (int64_t code : covariates[column]) {
      if (code < 0 || code >= cardinalities_[k]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "covariates: the latent decoder (a cVAE) needs a value of \"", name, "\" for every cell"));
      }
    }
    codes.push_back(covariates[column]);
  }
  return codes;
}

absl::StatusOr<LatentPosterior> VaeLatentSpace::Encode(const DenseMatrix& x, const CovariateCodes& covariates) const {
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, VaeCodes(covariates, x.rows));
  return vae_->Encode(x, codes);
}

absl::StatusOr<DenseMatrix> VaeLatentSpace::Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                                   const std::vector<float>& library_size) const {
  GENAILAB_ASSIGN_OR_RETURN(CovariateCodes codes, VaeCodes(covariates, z.rows));
  return vae_->Decode(z, codes, library_size);
}

}  // namespace genailab
