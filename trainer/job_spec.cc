#include "trainer/job_spec.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/yaml/yaml_to_json.h"
#include "google/protobuf/util/json_util.h"

namespace genailab {
namespace {

// The set fields of a v1.IterativeModelSpec as IterativeModelOptions hyperparameters: the proto's field
// names are the option keys, so every field (present and future) maps without a list to keep in step.
std::map<std::string, std::string> ModelOptionsFromProto(const v1::IterativeModelSpec& proto) {
  std::map<std::string, std::string> options;
  const google::protobuf::Reflection* reflection = proto.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(proto, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    std::string value;
    switch (field->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        value = reflection->GetString(proto, field);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
        value = absl::StrCat(reflection->GetInt32(proto, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
        value = absl::StrCat(reflection->GetInt64(proto, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
        value = absl::StrCat(reflection->GetDouble(proto, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
        value = reflection->GetBool(proto, field) ? "true" : "false";
        break;
      default:
        continue;  // IterativeModelSpec has no other field types.
    }
    options[field->name()] = value;
  }
  return options;
}

}  // namespace

absl::StatusOr<v1::TrainingJobSpec> ParseJobSpecJson(const std::string& json) {
  v1::TrainingJobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("job spec JSON: ", status.message().as_string()));
  }
  return spec;
}

absl::StatusOr<v1::TrainingJobSpec> ParseJobSpecYaml(const std::string& yaml) {
  GENAILAB_ASSIGN_OR_RETURN(std::string json, YamlToJson(yaml));
  return ParseJobSpecJson(json);
}

bool IsYamlFileName(const std::string& name) {
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml");
}

bool IsJobSpecFileName(const std::string& name) { return absl::EndsWith(name, ".json") || IsYamlFileName(name); }

absl::StatusOr<TrainingJobSpec> TrainingJobSpecFromProto(const v1::TrainingJobSpec& proto,
                                                         const std::string& repository) {
  TrainingJobSpec spec;
  spec.data_path = proto.data_path();
  if (proto.has_layer()) spec.layer = proto.layer();
  spec.covariate_keys.assign(proto.covariate_keys().begin(), proto.covariate_keys().end());
  spec.condition_key = proto.condition_key();
  spec.holdout.assign(proto.holdout().begin(), proto.holdout().end());
  if (proto.has_model_type()) spec.model_type = proto.model_type();
  if (proto.has_likelihood()) spec.likelihood = proto.likelihood();
  if (proto.has_input_space()) spec.input_space = proto.input_space();
  if (proto.has_normalize_total()) spec.normalize_total = proto.normalize_total();
  if (proto.has_latent_dim()) spec.latent_dim = proto.latent_dim();
  if (!proto.hidden_dims().empty()) spec.hidden_dims.assign(proto.hidden_dims().begin(), proto.hidden_dims().end());
  if (proto.has_covariate_embedding_dim()) spec.covariate_embedding_dim = proto.covariate_embedding_dim();
  if (proto.has_dropout()) spec.dropout = proto.dropout();
  if (proto.has_beta()) spec.beta = proto.beta();
  if (proto.has_validation_fraction()) spec.validation_fraction = proto.validation_fraction();
  if (proto.has_model_options()) spec.model_options = ModelOptionsFromProto(proto.model_options());

  const v1::TrainingHyperparameters& t = proto.training();
  VaeTrainingOptions& training = spec.training;
  if (t.has_epochs()) training.epochs = t.epochs();
  if (t.has_batch_size()) training.batch_size = t.batch_size();
  if (t.has_learning_rate()) training.learning_rate = t.learning_rate();
  if (t.has_lr_schedule()) training.lr_schedule = t.lr_schedule();
  if (t.has_min_learning_rate()) training.min_learning_rate = t.min_learning_rate();
  if (t.has_lr_step_epochs()) training.lr_step_epochs = t.lr_step_epochs();
  if (t.has_lr_step_gamma()) training.lr_step_gamma = t.lr_step_gamma();
  if (t.has_kl_warmup_epochs()) training.kl_warmup_epochs = t.kl_warmup_epochs();
  if (t.has_gradient_clip_norm()) training.gradient_clip_norm = t.gradient_clip_norm();
  if (t.has_early_stopping_patience()) training.early_stopping_patience = t.early_stopping_patience();
  if (t.has_early_stopping_min_delta()) training.early_stopping_min_delta = t.early_stopping_min_delta();
  if (t.has_seed()) training.seed = t.seed();
  if (t.has_device()) training.device = t.device();
  if (t.has_intra_op_threads()) training.intra_op_threads = t.intra_op_threads();
  if (t.has_mixed_precision()) training.mixed_precision = t.mixed_precision();
  if (t.has_checkpoint_every_epochs()) training.checkpoint_every_epochs = t.checkpoint_every_epochs();
  if (t.has_kl_schedule()) training.kl_schedule = t.kl_schedule();
  if (t.has_kl_cycle_epochs()) training.kl_cycle_epochs = t.kl_cycle_epochs();
  if (t.has_iwae_samples()) training.iwae_samples = t.iwae_samples();

  spec.repository = repository;
  spec.model_name = proto.model_name();
  if (proto.has_quality_gate()) {
    const v1::QualityGate& gate = proto.quality_gate();
    if (!gate.metric().empty()) spec.quality_gate.metric = gate.metric();
    if (gate.has_min_value()) spec.quality_gate.min_value = gate.min_value();
    if (gate.has_max_value()) spec.quality_gate.max_value = gate.max_value();
  }
  GENAILAB_RETURN_IF_ERROR(ValidateTrainingJobSpec(spec));
  return spec;
}

}  // namespace genailab
