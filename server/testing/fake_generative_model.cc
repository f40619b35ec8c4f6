#include "server/testing/fake_generative_model.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

int64_t FirstCode(const CovariateCodes& covariates, int64_t row) {
  if (covariates.empty() || static_cast<int64_t>(covariates[0].size()) <= row) return 0;
  return covariates[0][static_cast<size_t>(row)];
}

absl::Status CheckCodes(const ModelManifest& manifest, const CovariateCodes& covariates, int64_t rows) {
  const size_t expected = manifest.model_type == "vae" ? 0 : manifest.covariates.size();
  if (covariates.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("fake model: ", covariates.size(), " covariate columns, expected ", expected));
  }
  for (const auto& column : covariates) {
    if (static_cast<int64_t>(column.size()) != rows) {
      return absl::InvalidArgumentError("fake model: covariate column length mismatch");
    }
  }
  return absl::OkStatus();
}

}  // namespace

void FakeGenerativeModel::Record(const DenseMatrix& x, const CovariateCodes& covariates,
                                 const std::vector<float>& library_size, PerturbationMethod method) const {
  absl::MutexLock lock(&mu_);
  last_call_.x = x;
  last_call_.covariates = covariates;
  last_call_.library_size = library_size;
  last_call_.method = method;
}

FakeGenerativeModel::LastCall FakeGenerativeModel::last_call() const {
  absl::MutexLock lock(&mu_);
  return last_call_;
}

absl::StatusOr<LatentPosterior> FakeGenerativeModel::Encode(const DenseMatrix& x,
                                                            const CovariateCodes& covariates) const {
  GENAILAB_RETURN_IF_ERROR(CheckCodes(manifest_, covariates, x.rows));
  Record(x, covariates, {}, PerturbationMethod::kDefault);
  LatentPosterior posterior{DenseMatrix(x.rows, manifest_.latent_dim), DenseMatrix(x.rows, manifest_.latent_dim)};
  for (int64_t i = 0; i < x.rows; ++i) {
    float sum = 0;
    for (int64_t j = 0; j < x.cols; ++j) sum += x.at(i, j);
    for (int64_t k = 0; k < manifest_.latent_dim; ++k) {
      posterior.mean.at(i, k) = sum + static_cast<float>(k + FirstCode(covariates, i));
      posterior.variance.at(i, k) = 1.0f;
    }
  }
  return posterior;
}

absl::StatusOr<DenseMatrix> FakeGenerativeModel::Decode(const DenseMatrix& z, const CovariateCodes& covariates,
                                                        const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(CheckCodes(manifest_, covariates, z.rows));
  Record(z, covariates, library_size, PerturbationMethod::kDefault);
  const int64_t genes = static_cast<int64_t>(manifest_.gene_names.size());
  DenseMatrix out(z.rows, genes);
  for (int64_t i = 0; i < z.rows; ++i) {
    for (int64_t j = 0; j < genes; ++j) {
      out.at(i, j) = z.at(i, 0) + static_cast<float>(j + FirstCode(covariates, i)) +
                     (library_size.empty() ? 0.0f : library_size[static_cast<size_t>(i)]);
    }
  }
  return out;
}

absl::StatusOr<DenseMatrix> FakeGenerativeModel::Generate(int64_t n, const CovariateCodes& covariates,
                                                          uint64_t seed, float library_size,
                                                          bool sample_counts) const {
  GENAILAB_RETURN_IF_ERROR(CheckCodes(manifest_, covariates, n));
  Record(DenseMatrix(), covariates, {library_size}, PerturbationMethod::kDefault);
  const int64_t genes = static_cast<int64_t>(manifest_.gene_names.size());
  DenseMatrix out(n, genes);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < genes; ++j) {
      out.at(i, j) = static_cast<float>(seed) + static_cast<float>(j + FirstCode(covariates, i)) + library_size +
                     (sample_counts ? 0.5f : 0.0f);
    }
  }
  return out;
}

absl::StatusOr<DenseMatrix> FakeGenerativeModel::PredictPerturbation(
    const DenseMatrix& x, const CovariateCodes& covariates, const std::string& source,
    const std::string& target, PerturbationMethod method, const std::vector<float>& library_size) const {
  GENAILAB_RETURN_IF_ERROR(CheckCodes(manifest_, covariates, x.rows));
  Record(x, covariates, library_size, method);
  const int index = manifest_.CovariateIndex(manifest_.condition_key);
  if (index < 0) return absl::FailedPreconditionError("fake model: no condition covariate");
  const auto& values = manifest_.covariates[static_cast<size_t>(index)].values;
  const auto position = [&values](const std::string& v) {
    return static_cast<float>(std::find(values.begin(), values.end(), v) - values.begin());
  };
  DenseMatrix out = x;
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < x.cols; ++j) {
      out.at(i, j) += position(target) - position(source) +
                      (library_size.empty() ? 0.0f : library_size[static_cast<size_t>(i)]);
    }
  }
  return out;
}

ModelManifest FakeManifest(const std::string& name, int64_t version, int n_genes) {
  ModelManifest manifest;
  manifest.name = name;
  manifest.version = version;
  manifest.model_type = "vae";
  manifest.likelihood = "gaussian";
  manifest.latent_dim = 2;
  manifest.hidden_dims = {8};
  for (int j = 0; j < n_genes; ++j) manifest.gene_names.push_back(absl::StrCat("g", j));
  manifest.hyperparameters = {{"epochs", "3"}, {"lr", "0.001"}};
  manifest.training_metrics = {{"validation_loss", 1.5}};
  manifest.data_fingerprint = "abc123";
  manifest.created_at = "2024-01-02T03:04:05Z";
  manifest.median_library_size = 100.0;
  return manifest;
}

ModelManifest FakeConditionalManifest(const std::string& name, int64_t version, int n_genes) {
  ModelManifest manifest = FakeManifest(name, version, n_genes);
  manifest.model_type = "cvae";
  manifest.covariates = {{"cell_type", {"A", "B"}}, {"condition", {"ctrl", "stim"}}};
  manifest.condition_key = "condition";
  manifest.covariate_embedding_dim = 2;
  return manifest;
}

std::string FreshTestRepository() {
  const std::filesystem::path root = std::filesystem::path(std::getenv("TEST_TMPDIR")) /
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  return root.string();
}

std::string WriteFakeVersion(const std::string& root, const ModelManifest& manifest) {
  // Published like a real trainer: written under a "." name, then renamed into place.
  const std::filesystem::path model_dir = std::filesystem::path(root) / manifest.name;
  const std::filesystem::path staging = model_dir / absl::StrCat(".", manifest.version, ".tmp");
  const std::filesystem::path dir = model_dir / std::to_string(manifest.version);
  std::filesystem::create_directories(staging);
  {
    std::ofstream out(staging / "manifest.json");
    out << manifest.ToJson();
  }
  std::filesystem::rename(staging, dir);
  return dir.string();
}

ModelLoader FakeModelLoader() {
  return [](const std::string& directory,
            const std::string& /*device*/) -> absl::StatusOr<std::unique_ptr<GenerativeModel>> {
    const std::filesystem::path dir(directory);
    if (std::filesystem::exists(dir / "FAIL")) {
      return absl::InternalError(absl::StrCat("fake loader: ", directory, " is marked FAIL"));
    }
    std::ifstream in(dir / "manifest.json");
    if (!in) return absl::NotFoundError(absl::StrCat("fake loader: no manifest in ", directory));
    std::stringstream text;
    text << in.rdbuf();
    GENAILAB_ASSIGN_OR_RETURN(ModelManifest manifest, ModelManifest::FromJson(text.str()));
    return std::unique_ptr<GenerativeModel>(new FakeGenerativeModel(std::move(manifest)));
  };
}

}  // namespace genailab
