// The daemon's JobRunner and JobSpecValidator: a job's spec becomes a TrainingJobSpec (TrainingJobSpecFromProto)
// with the daemon's repository, a resumable checkpoint in the job's folder (<job_directory>/training.ckpt;
// VAEs only: diffusion / flow-matching jobs restart) and the manager's cancellation, and runs through RunTrainingJob; epochs become JobProgress with an ETA.
// Stateless apart from the options; the returned callbacks are thread-safe.
#ifndef GENAILAB_TRAINER_TRAINING_JOB_RUNNER_H_
#define GENAILAB_TRAINER_TRAINING_JOB_RUNNER_H_

#include <string>

#include "trainer/job_manager.h"
#include "trainer/trainer_metrics.h"

namespace genailab {

struct TrainingJobRunnerOptions {
  // The model repository jobs publish into (genailab-server's --repository).
  std::string repository;
  // Intra-op threads for specs that set none (0 = LibTorch's default).
  int default_threads = 0;
  TrainerMetrics* metrics = nullptr;  // optional
};

// INVALID_ARGUMENT naming the field (TrainingJobSpecFromProto); NOT_FOUND if data_path does not exist or
// model_options.vae_checkpoint is not a folder.
JobSpecValidator MakeTrainingJobSpecValidator(const TrainingJobRunnerOptions& options);

// Runs RunTrainingJob; a gated model is kept in <job_directory>/gated_model.
JobRunner MakeTrainingJobRunner(const TrainingJobRunnerOptions& options);

}  // namespace genailab

#endif  // GENAILAB_TRAINER_TRAINING_JOB_RUNNER_H_
