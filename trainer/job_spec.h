// The job spec of the TrainerService (genailab.v1.TrainingJobSpec) in its outer forms, JSON or YAML text
// (spool files, `genailab train submit --spec`) and the proto, and its translation into the TrainingJobSpec that
// RunTrainingJob runs. Stateless functions; thread-safe.
#ifndef GENAILAB_TRAINER_JOB_SPEC_H_
#define GENAILAB_TRAINER_JOB_SPEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "genailab/v1/trainer_service.pb.h"
#include "trainer/training_job.h"

namespace genailab {

// Parses the proto3 JSON form of a genailab.v1.TrainingJobSpec (unknown fields are errors).
// INVALID_ARGUMENT quoting the parser's message (which names the field).
absl::StatusOr<v1::TrainingJobSpec> ParseJobSpecJson(const std::string& json);

// The same spec written as YAML (same field names; see common/yaml/yaml_to_json.h for scalar typing).
// INVALID_ARGUMENT with the YAML parser's line, or naming the field as ParseJobSpecJson does.
absl::StatusOr<v1::TrainingJobSpec> ParseJobSpecYaml(const std::string& yaml);

// True for the file names job specs may have: *.json, *.yaml, *.yml. IsYamlFileName: the latter two.
bool IsJobSpecFileName(const std::string& name);
bool IsYamlFileName(const std::string& name);

// The spec RunTrainingJob runs: unset optional fields take TrainingJobSpec's defaults, `repository` is the
// daemon's. Validates it with ValidateTrainingJobSpec: INVALID_ARGUMENT naming the field.
absl::StatusOr<TrainingJobSpec> TrainingJobSpecFromProto(const v1::TrainingJobSpec& proto,
                                                         const std::string& repository);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_JOB_SPEC_H_
