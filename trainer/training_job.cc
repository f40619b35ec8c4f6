#include "trainer/training_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/model_name.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "data/csv_io.h"
#include "data/preprocessing.h"
#include "models/diffusion/iterative_options.h"
#include "models/diffusion/iterative_training.h"
#include "trainer/cell_filter.h"

namespace genailab {
namespace {

bool LooksLikeCounts(const DenseMatrix& x) {
  for (float v : x.values) {
    if (v < 0.0f || v != std::floor(v)) return false;
  }
  return true;
}

std::vector<std::string> SortedUnique(const std::vector<std::string>& values) {
  std::set<std::string> unique(values.begin(), values.end());
  return {unique.begin(), unique.end()};
}

// sha256 over everything the model learns from: the matrix, the genes, and the conditioning columns.
std::string Fingerprint(const AnnData& data, const std::vector<std::string>& keys) {
  Sha256 hasher;
  const int64_t shape[2] = {data.x.rows, data.x.cols};
  hasher.Update(shape, sizeof(shape));
  hasher.Update(data.x.values.data(), data.x.values.size() * sizeof(float));
  for (const std::string& gene : data.var_names) hasher.Update(gene + '\n');
  for (const std::string& key : keys) {
    hasher.Update(key + '\n');
    for (const std::string& value : data.obs.at(key)) hasher.Update(value + '\n');
  }
  return hasher.HexDigest();
}

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

TrainingData BuildTrainingData(const AnnData& data, const std::vector<int64_t>& cells,
                               const ModelManifest& manifest, bool keep_counts) {
  TrainingData out;
  out.x = data.x.SelectRows(cells);
  if (keep_counts) out.counts = out.x;
  if (manifest.preprocessing.normalize_total > 0) {
    NormalizeTotal(&out.x, manifest.preprocessing.normalize_total);
  }
  if (manifest.preprocessing.log1p) Log1p(&out.x);
  for (const CovariateSpec& covariate : manifest.covariates) {
    const std::vector<std::string>& column = data.obs.at(covariate.name);
    std::vector<int64_t> codes;
    codes.reserve(cells.size());
    for (int64_t cell : cells) {
      const auto it = std::find(covariate.values.begin(), covariate.values.end(), column[cell]);
      codes.push_back(it - covariate.values.begin());
    }
    out.covariates.push_back(std::move(codes));
  }
  if (!manifest.condition_key.empty()) {
    const std::vector<std::string>& column = data.obs.at(manifest.condition_key);
    for (int64_t cell : cells) out.conditions.push_back(column[cell]);
  }
  return out;
}

std::map<std::string, std::string> Hyperparameters(const TrainingJobSpec& spec) {
  const VaeTrainingOptions& t = spec.training;
  return {
      {"layer", spec.layer},
      {"covariate_keys", absl::StrJoin(spec.covariate_keys, ",")},
      {"condition_key", spec.condition_key},
      {"holdout", absl::StrJoin(spec.holdout, ";")},
      {"latent_dim", absl::StrCat(spec.latent_dim)},
      {"hidden_dims", absl::StrJoin(spec.hidden_dims, ",")},
      {"covariate_embedding_dim", absl::StrCat(spec.covariate_embedding_dim)},
      {"dropout", absl::StrCat(spec.dropout)},
      {"beta", absl::StrCat(spec.beta)},
      {"validation_fraction", absl::StrCat(spec.validation_fraction)},
      {"epochs", absl::StrCat(t.epochs)},
      {"batch_size", absl::StrCat(t.batch_size)},
      {"learning_rate", absl::StrCat(t.learning_rate)},
      {"kl_warmup_epochs", absl::StrCat(t.kl_warmup_epochs)},
      {"seed", absl::StrCat(t.seed)},
      {"lr_schedule", t.lr_schedule},
      {"gradient_clip_norm", absl::StrCat(t.gradient_clip_norm)},
      {"early_stopping_patience", absl::StrCat(t.early_stopping_patience)},
      {"world_size", absl::StrCat(t.distributed.world_size)},
  };
}

// Why `metrics` fail `gate`, or "" when they pass (or the gate is off).
std::string QualityGateFailure(const QualityGate& gate, const std::map<std::string, double>& metrics) {
  if (!gate.enabled()) return "";
  const auto it = metrics.find(gate.metric);
  if (it == metrics.end()) {
    return absl::StrCat("quality_gate.metric '", gate.metric, "' is not among the training metrics");
  }
  if (gate.min_value && !(it->second >= *gate.min_value)) {
    return absl::StrCat("quality gate: ", gate.metric, " = ", it->second, " is below min_value ", *gate.min_value);
  }
  if (gate.max_value && !(it->second <= *gate.max_value)) {
    return absl::StrCat("quality gate: ", gate.metric, " = ", it->second, " is above max_value ", *gate.max_value);
  }
  return "";
}

}  // namespace

absl::Status ValidateTrainingJobSpec(const TrainingJobSpec& spec) {
  if (spec.data_path.empty()) return absl::InvalidArgumentError("data_path is required");
  if (spec.repository.empty()) return absl::InvalidArgumentError("repository is required");
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(spec.model_name, "model_name"));
  if (spec.model_type != "vae" && spec.model_type != "cvae" && !IsIterativeModelType(spec.model_type)) {
    return absl::InvalidArgumentError(absl::StrCat("model_type '", spec.model_type,
                                                   "' is not one of: vae, cvae, diffusion, flow_matching"));
  }
  if (IsIterativeModelType(spec.model_type)) {
    const absl::Status options =
        IterativeModelOptions::FromHyperparameters(spec.model_options, spec.model_type).status();
    if (!options.ok()) {
      return absl::Status(options.code(), absl::StrCat("model_options: ", options.message()));
    }
  } else if (!spec.model_options.empty()) {
    return absl::InvalidArgumentError("model_options: only diffusion and flow_matching models take model options");
  }
  if (spec.model_type == "cvae" && spec.covariate_keys.empty()) {
    return absl::InvalidArgumentError("covariate_keys: a cvae needs at least one covariate");
  }
  if (spec.model_type == "vae" && !spec.covariate_keys.empty()) {
    return absl::InvalidArgumentError("covariate_keys: a vae is not conditioned; use model_type cvae");
  }
  if (spec.likelihood != "gaussian" && spec.likelihood != "negative_binomial") {
    return absl::InvalidArgumentError(absl::StrCat(
        "likelihood '", spec.likelihood, "' is not one of: gaussian, negative_binomial"));
  }
  if (spec.input_space != "auto" && spec.input_space != "counts" &&
      spec.input_space != "log_normalized") {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_space '", spec.input_space, "' is not one of: auto, counts, log_normalized"));
  }
  if (spec.likelihood == "negative_binomial" && spec.input_space == "log_normalized") {
    return absl::InvalidArgumentError("likelihood: negative_binomial needs input_space counts");
  }
  if (spec.latent_dim <= 0) return absl::InvalidArgumentError("latent_dim must be positive");
  if (spec.hidden_dims.empty() ||
      std::any_of(spec.hidden_dims.begin(), spec.hidden_dims.end(), [](int64_t d) { return d <= 0; })) {
    return absl::InvalidArgumentError("hidden_dims must be one or more positive sizes");
  }
  if (spec.covariate_embedding_dim <= 0) {
    return absl::InvalidArgumentError("covariate_embedding_dim must be positive");
  }
  if (spec.dropout < 0 || spec.dropout >= 1) return absl::InvalidArgumentError("dropout must be in [0, 1)");
  if (spec.beta < 0) return absl::InvalidArgumentError("beta must be non-negative");
  if (spec.validation_fraction < 0 || spec.validation_fraction >= 1) {
    return absl::InvalidArgumentError("validation_fraction must be in [0, 1)");
  }
  if (spec.normalize_total <= 0) return absl::InvalidArgumentError("normalize_total must be positive");
  GENAILAB_RETURN_IF_ERROR(ValidateVaeTrainingOptions(spec.training));
  if (spec.quality_gate.enabled()) {
    if (spec.quality_gate.metric.empty()) return absl::InvalidArgumentError("quality_gate.metric is required");
    if (spec.quality_gate.min_value && spec.quality_gate.max_value &&
        *spec.quality_gate.min_value > *spec.quality_gate.max_value) {
      return absl::InvalidArgumentError("quality_gate: min_value is above max_value");
    }
  }
  for (const std::string& filter : spec.holdout) {
    GENAILAB_RETURN_IF_ERROR(CellFilter::Parse(filter).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainingJobResult> RunTrainingJob(
    const TrainingJobSpec& spec, const std::function<void(const EpochReport&)>& on_epoch) {
  GENAILAB_RETURN_IF_ERROR(ValidateTrainingJobSpec(spec));
  GENAILAB_ASSIGN_OR_RETURN(auto publisher, VersionPublisher::Create({spec.repository}));
  GENAILAB_ASSIGN_OR_RETURN(AnnData data, ReadExpressionFile(spec.data_path, spec.layer));
  GENAILAB_RETURN_IF_ERROR(data.x.CheckFinite("data"));
  if (data.n_obs() == 0 || data.n_vars() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("data_path ", spec.data_path, " holds no cells or genes"));
  }

  // The model's genes are matched to request columns by name: a name must mean one gene.
  if (const absl::Status unique = CheckUniqueNames(data.var_names, absl::StrCat(spec.data_path, ": var_names"));
      !unique.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(unique.message(), " (make them unique first, e.g. with anndata's var_names_make_unique())"));
  }

  std::vector<std::string> conditioning_keys = spec.covariate_keys;
  if (!spec.condition_key.empty() &&
      std::find(conditioning_keys.begin(), conditioning_keys.end(), spec.condition_key) ==
          conditioning_keys.end()) {
    conditioning_keys.push_back(spec.condition_key);
  }
  for (const std::string& key : conditioning_keys) {
    GENAILAB_RETURN_IF_ERROR(data.ObsColumn(key).status());
  }

  ModelManifest manifest;
  manifest.name = spec.model_name;
  manifest.model_type = spec.model_type;
  manifest.likelihood = spec.likelihood;
  manifest.latent_dim = spec.latent_dim;
  manifest.hidden_dims = spec.hidden_dims;
  manifest.covariate_embedding_dim = spec.covariate_embedding_dim;
  manifest.dropout = spec.dropout;
  manifest.beta = spec.beta;
  manifest.hyperparameters = Hyperparameters(spec);
  manifest.gene_names = data.var_names;
  manifest.condition_key = spec.condition_key;
  for (const std::string& key : spec.covariate_keys) {
    manifest.covariates.push_back({key, SortedUnique(data.obs.at(key))});
  }
  const bool counts = spec.input_space == "counts" ||
                      (spec.input_space == "auto" && LooksLikeCounts(data.x));
  if (spec.likelihood == "negative_binomial" && !counts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "likelihood: negative_binomial needs raw counts, but layer ", spec.layer,
        " holds non-integer or negative values"));
  }
  manifest.preprocessing.layer = spec.layer;
  manifest.preprocessing.input_space = counts ? "counts" : "log_normalized";
  manifest.preprocessing.normalize_total = counts ? spec.normalize_total : 0.0;
  manifest.preprocessing.log1p = counts;

  std::vector<CellFilter> filters;
  for (const std::string& holdout : spec.holdout) {
    GENAILAB_ASSIGN_OR_RETURN(CellFilter filter, CellFilter::Parse(holdout));
    filters.push_back(std::move(filter));
  }
  GENAILAB_ASSIGN_OR_RETURN(std::vector<int64_t> kept, CellsOutsideAll(data, filters));
  if (kept.size() < 2) {
    return absl::InvalidArgumentError("holdout leaves fewer than 2 cells to train on");
  }
  manifest.data_fingerprint = Fingerprint(data.SelectCells(kept), conditioning_keys);

  std::mt19937_64 rng(spec.training.seed);
  std::vector<int64_t> shuffled = kept;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const size_t n_validation = static_cast<size_t>(std::floor(spec.validation_fraction * shuffled.size()));
  std::vector<int64_t> validation_cells(shuffled.begin(), shuffled.begin() + n_validation);
  std::vector<int64_t> train_cells(shuffled.begin() + n_validation, shuffled.end());
  std::sort(validation_cells.begin(), validation_cells.end());
  std::sort(train_cells.begin(), train_cells.end());

  const bool keep_counts = spec.likelihood == "negative_binomial";
  const TrainingData train = BuildTrainingData(data, train_cells, manifest, keep_counts);
  const TrainingData validation = BuildTrainingData(data, validation_cells, manifest, keep_counts);
  manifest.created_at = NowRfc3339();

  // Diffusion / flow matching (models/diffusion/iterative_training.h) read their options from the manifest.
  for (const auto& [key, value] : spec.model_options) manifest.hyperparameters[key] = value;
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<TrainedVae> trained,
                            IsIterativeModelType(spec.model_type)
                                ? TrainIterativeModel(manifest, train, validation, spec.training, on_epoch)
                                : TrainVae(manifest, train, validation, spec.training, on_epoch));
  TrainingJobResult result;
  result.training_metrics = trained->model().manifest().training_metrics;
  result.gate_failure = QualityGateFailure(spec.quality_gate, result.training_metrics);
  if (!result.gate_failure.empty()) {
    if (!spec.gated_model_directory.empty()) {
      std::error_code error;
      std::filesystem::create_directories(spec.gated_model_directory, error);
      if (error) {
        return absl::InternalError(absl::StrCat("cannot create gated_model_directory ",
                                                spec.gated_model_directory, ": ", error.message()));
      }
      GENAILAB_RETURN_IF_ERROR(trained->Save(spec.gated_model_directory, 0));
    }
  } else if (spec.training.distributed.rank == 0) {
    const absl::Time publish_started = absl::Now();
    GENAILAB_ASSIGN_OR_RETURN(
        result.published,
        publisher->Publish(spec.model_name, [&](const std::string& directory, int64_t version) {
          return trained->Save(directory, version);
        }));
    result.publish_seconds = absl::ToDoubleSeconds(absl::Now() - publish_started);
  }
  result.n_train_cells = static_cast<int64_t>(train_cells.size());
  result.n_validation_cells = static_cast<int64_t>(validation_cells.size());
  result.n_held_out_cells = data.n_obs() - static_cast<int64_t>(kept.size());
  return result;
}

}  // namespace genailab
