#include "models/model_manifest.h"

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genailab {
namespace {

using Json = nlohmann::json;

// Non-finite doubles have no JSON form: they are written as null and read back as NaN.
Json DoubleToJson(double value) {
  if (!std::isfinite(value)) return Json(nullptr);
  return Json(value);
}

absl::Status MissingField(const std::string& field) {
  return absl::InvalidArgumentError(absl::StrCat("manifest: missing field '", field, "'"));
}

absl::Status MalformedField(const std::string& field, const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("manifest: field '", field, "' is malformed (expected ", expected, ")"));
}

// Reads objects field by field, naming the full path (e.g. "covariates[1].values") in every error.
// Optional fields keep the value already in `out` when absent.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  std::string Path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

  absl::StatusOr<const Json*> Find(const std::string& key, bool required) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) return MissingField(Path(key));
      return nullptr;
    }
    return &*it;
  }

  absl::Status String(const std::string& key, bool required, std::string* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) return MalformedField(Path(key), "a string");
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Int(const std::string& key, bool required, int64_t* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_number_integer()) return MalformedField(Path(key), "an integer");
    *out = value->get<int64_t>();
    return absl::OkStatus();
  }

  absl::Status Double(const std::string& key, bool required, double* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    return ReadDouble(*value, Path(key), out);
  }

  absl::Status Bool(const std::string& key, bool required, bool* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_boolean()) return MalformedField(Path(key), "a boolean");
    *out = value->get<bool>();
    return absl::OkStatus();
  }

  absl::Status StringList(const std::string& key, bool required, std::vector<std::string>* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    return ReadStringList(*value, Path(key), out);
  }

  absl::Status IntList(const std::string& key, bool required, std::vector<int64_t>* out) const {
    GENAILAB_ASSIGN_OR_RETURN(const Json* value, Find(key, required));
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return MalformedField(Path(key), "an array of integers");
    std::vector<int64_t> result;
    for (size_t i = 0; i < value->size(); ++i) {
      const Json& item = (*value)[i];
      if (!item.is_number_integer()) {
        return MalformedField(absl::StrCat(Path(key), "[", i, "]"), "an integer");
      }
      result.push_back(item.get<int64_t>());
    }
    *out = std::move(result);
    return absl::OkStatus();
  }

  static absl::Status ReadDouble(const Json& value, const std::string& path, double* out) {
    if (value.is_null()) {
      *out = std::numeric_limits<double>::quiet_NaN();
      return absl::OkStatus();
    }
    if (!value.is_number()) return MalformedField(path, "a number");
    *out = value.get<double>();
    return absl::OkStatus();
  }

  static absl::Status ReadStringList(const Json& value, const std::string& path,
                                     std::vector<std::string>* out) {
    if (!value.is_array()) return MalformedField(path, "an array of strings");
    std::vector<std::string> result;
    result.reserve(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) return MalformedField(absl::StrCat(path, "[", i, "]"), "a string");
      result.push_back(value[i].get<std::string>());
    }
    *out = std::move(result);
    return absl::OkStatus();
  }

 private:
  const Json& object_;
  std::string prefix_;
};

absl::StatusOr<const Json*> RequireObject(const Json* value, const std::string& path) {
  if (!value->is_object()) return MalformedField(path, "an object");
  return value;
}

absl::StatusOr<const Json*> RequireArray(const Json* value, const std::string& path) {
  if (!value->is_array()) return MalformedField(path, "an array");
  return value;
}

absl::Status ReadCovariates(const FieldReader& root, std::vector<CovariateSpec>* out) {
  GENAILAB_ASSIGN_OR_RETURN(const Json* value, root.Find("covariates", /*required=*/true));
  GENAILAB_ASSIGN_OR_RETURN(value, RequireArray(value, "covariates"));
  std::vector<CovariateSpec> result;
  for (size_t i = 0; i < value->size(); ++i) {
    const std::string path = absl::StrCat("covariates[", i, "]");
    GENAILAB_ASSIGN_OR_RETURN(const Json* item, RequireObject(&(*value)[i], path));
    FieldReader reader(*item, path);
    CovariateSpec spec;
    GENAILAB_RETURN_IF_ERROR(reader.String("name", true, &spec.name));
    GENAILAB_RETURN_IF_ERROR(reader.StringList("values", true, &spec.values));
    result.push_back(std::move(spec));
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ReadLatentConditionMeans(const FieldReader& root, std::vector<LatentConditionMean>* out) {
  GENAILAB_ASSIGN_OR_RETURN(const Json* value, root.Find("latent_condition_means", /*required=*/false));
  if (value == nullptr) return absl::OkStatus();
  GENAILAB_ASSIGN_OR_RETURN(value, RequireArray(value, "latent_condition_means"));
  std::vector<LatentConditionMean> result;
  for (size_t i = 0; i < value->size(); ++i) {
    const std::string path = absl::StrCat("latent_condition_means[", i, "]");
    GENAILAB_ASSIGN_OR_RETURN(const Json* item, RequireObject(&(*value)[i], path));
    FieldReader reader(*item, path);
    LatentConditionMean entry;
    GENAILAB_RETURN_IF_ERROR(reader.String("condition", true, &entry.condition));
    GENAILAB_RETURN_IF_ERROR(reader.Int("n_cells", false, &entry.n_cells));
    GENAILAB_ASSIGN_OR_RETURN(const Json* mean, reader.Find("mean", true));
    if (!mean->is_array()) return MalformedField(reader.Path("mean"), "an array of numbers");
    for (size_t j = 0; j < mean->size(); ++j) {
      double element = 0;
      GENAILAB_RETURN_IF_ERROR(
          FieldReader::ReadDouble((*mean)[j], absl::StrCat(reader.Path("mean"), "[", j, "]"), &element));
      entry.mean.push_back(static_cast<float>(element));
    }
    result.push_back(std::move(entry));
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ReadStringMap(const FieldReader& root, const std::string& key,
                           std::map<std::string, std::string>* out) {
  GENAILAB_ASSIGN_OR_RETURN(const Json* value, root.Find(key, /*required=*/false));
  if (value == nullptr) return absl::OkStatus();
  GENAILAB_ASSIGN_OR_RETURN(value, RequireObject(value, key));
  std::map<std::string, std::string> result;
  for (auto it = value->begin(); it != value->end(); ++it) {
    if (!it.value().is_string()) return MalformedField(key + "." + it.key(), "a string");
    result[it.key()] = it.value().get<std::string>();
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ReadDoubleMap(const FieldReader& root, const std::string& key,
                           std::map<std::string, double>* out) {
  GENAILAB_ASSIGN_OR_RETURN(const Json* value, root.Find(key, /*required=*/false));
  if (value == nullptr) return absl::OkStatus();
  GENAILAB_ASSIGN_OR_RETURN(value, RequireObject(value, key));
  std::map<std::string, double> result;
  for (auto it = value->begin(); it != value->end(); ++it) {
    double number = 0;
    GENAILAB_RETURN_IF_ERROR(FieldReader::ReadDouble(it.value(), key + "." + it.key(), &number));
    result[it.key()] = number;
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ReadPreprocessing(const FieldReader& root, Preprocessing* out) {
  GENAILAB_ASSIGN_OR_RETURN(const Json* value, root.Find("preprocessing", /*required=*/false));
  if (value == nullptr) return absl::OkStatus();
  GENAILAB_ASSIGN_OR_RETURN(value, RequireObject(value, "preprocessing"));
  FieldReader reader(*value, "preprocessing");
  GENAILAB_RETURN_IF_ERROR(reader.String("input_space", false, &out->input_space));
  GENAILAB_RETURN_IF_ERROR(reader.Double("normalize_total", false, &out->normalize_total));
  GENAILAB_RETURN_IF_ERROR(reader.Bool("log1p", false, &out->log1p));
  GENAILAB_RETURN_IF_ERROR(reader.String("layer", false, &out->layer));
  return absl::OkStatus();
}

}  // namespace

std::string ModelManifest::OutputSpace() const {
  return likelihood == "negative_binomial" ? "counts" : "log_normalized";
}

int ModelManifest::CovariateIndex(const std::string& covariate_name) const {
  for (size_t i = 0; i < covariates.size(); ++i) {
    if (covariates[i].name == covariate_name) return static_cast<int>(i);
  }
  return -1;
}

std::string ModelManifest::ToJson() const {
  Json json;
  json["format_version"] = format_version;
  json["name"] = name;
  json["version"] = version;
  json["model_type"] = model_type;
  json["likelihood"] = likelihood;
  json["latent_dim"] = latent_dim;
  json["hidden_dims"] = hidden_dims;
  json["covariate_embedding_dim"] = covariate_embedding_dim;
  json["dropout"] = DoubleToJson(dropout);
  json["beta"] = DoubleToJson(beta);
  json["hyperparameters"] = Json::object();
  for (const auto& [key, value] : hyperparameters) json["hyperparameters"][key] = value;
  json["gene_names"] = gene_names;
  json["covariates"] = Json::array();
  for (const CovariateSpec& spec : covariates) {
    json["covariates"].push_back(Json{{"name", spec.name}, {"values", spec.values}});
  }
  json["condition_key"] = condition_key;
  json["latent_condition_means"] = Json::array();
  for (const LatentConditionMean& entry : latent_condition_means) {
    Json mean = Json::array();
    for (float element : entry.mean) mean.push_back(DoubleToJson(element));
    json["latent_condition_means"].push_back(
        Json{{"condition", entry.condition}, {"mean", mean}, {"n_cells", entry.n_cells}});
  }
  json["median_library_size"] = DoubleToJson(median_library_size);
  json["preprocessing"] = Json{{"input_space", preprocessing.input_space},
                               {"normalize_total", DoubleToJson(preprocessing.normalize_total)},
                               {"log1p", preprocessing.log1p},
                               {"layer", preprocessing.layer}};
  json["training_metrics"] = Json::object();
  for (const auto& [key, value] : training_metrics) json["training_metrics"][key] = DoubleToJson(value);
  json["data_fingerprint"] = data_fingerprint;
  json["created_at"] = created_at;
  json["weights_file"] = weights_file;
  json["weights_sha256"] = weights_sha256;
  return json.dump(2) + "\n";
}

absl::StatusOr<ModelManifest> ModelManifest::FromJson(const std::string& text) {
  Json json = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("manifest: not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("manifest: top level is not a JSON object");

  FieldReader reader(json, "");
  ModelManifest manifest;
  int64_t format_version = 0;
  GENAILAB_RETURN_IF_ERROR(reader.Int("format_version", true, &format_version));
  if (format_version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("manifest: unsupported format_version ", format_version,
                                                      " (this build reads ", kFormatVersion, ")"));
  }
  manifest.format_version = static_cast<int>(format_version);
  GENAILAB_RETURN_IF_ERROR(reader.String("name", true, &manifest.name));
  GENAILAB_RETURN_IF_ERROR(reader.Int("version", true, &manifest.version));
  GENAILAB_RETURN_IF_ERROR(reader.String("model_type", true, &manifest.model_type));
  GENAILAB_RETURN_IF_ERROR(reader.String("likelihood", true, &manifest.likelihood));
  GENAILAB_RETURN_IF_ERROR(reader.Int("latent_dim", true, &manifest.latent_dim));
  GENAILAB_RETURN_IF_ERROR(reader.IntList("hidden_dims", true, &manifest.hidden_dims));
  GENAILAB_RETURN_IF_ERROR(reader.Int("covariate_embedding_dim", false, &manifest.covariate_embedding_dim));
  GENAILAB_RETURN_IF_ERROR(reader.Double("dropout", false, &manifest.dropout));
  GENAILAB_RETURN_IF_ERROR(reader.Double("beta", false, &manifest.beta));
  GENAILAB_RETURN_IF_ERROR(ReadStringMap(reader, "hyperparameters", &manifest.hyperparameters));
  GENAILAB_RETURN_IF_ERROR(reader.StringList("gene_names", true, &manifest.gene_names));
  GENAILAB_RETURN_IF_ERROR(CheckUniqueNames(manifest.gene_names, "gene_names"));
  GENAILAB_RETURN_IF_ERROR(ReadCovariates(reader, &manifest.covariates));
  GENAILAB_RETURN_IF_ERROR(reader.String("condition_key", false, &manifest.condition_key));
  GENAILAB_RETURN_IF_ERROR(ReadLatentConditionMeans(reader, &manifest.latent_condition_means));
  GENAILAB_RETURN_IF_ERROR(reader.Double("median_library_size", false, &manifest.median_library_size));
  GENAILAB_RETURN_IF_ERROR(ReadPreprocessing(reader, &manifest.preprocessing));
  GENAILAB_RETURN_IF_ERROR(ReadDoubleMap(reader, "training_metrics", &manifest.training_metrics));
  GENAILAB_RETURN_IF_ERROR(reader.String("data_fingerprint", false, &manifest.data_fingerprint));
  GENAILAB_RETURN_IF_ERROR(reader.String("created_at", false, &manifest.created_at));
  GENAILAB_RETURN_IF_ERROR(reader.String("weights_file", true, &manifest.weights_file));
  GENAILAB_RETURN_IF_ERROR(reader.String("weights_sha256", false, &manifest.weights_sha256));
  return manifest;
}

absl::Status CheckUniqueNames(const std::vector<std::string>& names, const std::string& field) {
  absl::flat_hash_map<std::string_view, size_t> first;
  first.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const auto [it, inserted] = first.emplace(names[i], i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": duplicate name '", names[i], "' at positions ", it->second, " and ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace genailab
