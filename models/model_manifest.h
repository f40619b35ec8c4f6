// The manifest of one checkpoint version: everything needed to load, validate against and describe a
// trained model, stored as `manifest.json` beside the weights in `<repository>/<model>/<version>/`.
// A plain value type (thread-compatible); JSON I/O through nlohmann::json in the .cc only.
#ifndef GENAILAB_MODELS_MODEL_MANIFEST_H_
#define GENAILAB_MODELS_MODEL_MANIFEST_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genailab {

// One categorical covariate and its vocabulary (embedding index = position in `values`).
struct CovariateSpec {
  std::string name;
  std::vector<std::string> values;
};

// How raw input becomes model input. Applied by the trainer to the training file and by the server to
// every request, so a client sends what the training file held.
struct Preprocessing {
  // "counts" or "log_normalized": what the training layer (and so every request) holds.
  std::string input_space = "log_normalized";
  // > 0: scale each cell to this total before log1p (scanpy's normalize_total(target_sum)).
  double normalize_total = 0.0;
  bool log1p = false;
  // The training layer: "X", "raw/X" or "layers/<name>".
  std::string layer = "X";
};

// Mean latent of the training cells per value of the condition covariate (scGen's latent arithmetic).
struct LatentConditionMean {
  std::string condition;
  std::vector<float> mean;
  int64_t n_cells = 0;
};

struct ModelManifest {
  static constexpr int kFormatVersion = 1;

  int format_version = kFormatVersion;
  std::string name;
  int64_t version = 0;
  std::string model_type;   // "vae" | "cvae"
  std::string likelihood;   // "gaussian" | "negative_binomial"
  int64_t latent_dim = 0;
  std::vector<int64_t> hidden_dims;
  int64_t covariate_embedding_dim = 0;
  double dropout = 0.0;
  double beta = 1.0;
  // Every hyperparameter of the run (epochs, lr, batch size, seed, ...), as given to the trainer.
  std::map<std::string, std::string> hyperparameters;
  std::vector<std::string> gene_names;
  std::vector<CovariateSpec> covariates;
  // The covariate that holds the perturbation condition; empty if none.
  std::string condition_key;
  std::vector<LatentConditionMean> latent_condition_means;
  // Median total counts of the training cells (negative-binomial models' default library size).
  double median_library_size = 0.0;
  Preprocessing preprocessing;
  std::map<std::string, double> training_metrics;
  std::string data_fingerprint;  // hex sha256
  std::string created_at;        // RFC 3339 UTC
  std::string weights_file = "weights.pt";
  std::string weights_sha256;    // hex

  // "counts" for negative-binomial models, otherwise "log_normalized".
  std::string OutputSpace() const;
  // Index of `name` in `covariates`, or -1.
  int CovariateIndex(const std::string& name) const;

  std::string ToJson() const;
  // INVALID_ARGUMENT naming the missing or malformed field (gene_names must be unique: a request's
  // columns are matched to them by name); FAILED_PRECONDITION for an unknown format_version.
  static absl::StatusOr<ModelManifest> FromJson(const std::string& json);
};

// INVALID_ARGUMENT "<field>: duplicate name '<name>' at positions i and j" when `names` repeats one.
absl::Status CheckUniqueNames(const std::vector<std::string>& names, const std::string& field);

}  // namespace genailab

#endif  // GENAILAB_MODELS_MODEL_MANIFEST_H_
