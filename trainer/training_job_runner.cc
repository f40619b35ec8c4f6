#include "trainer/training_job_runner.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "models/diffusion/iterative_options.h"
#include "trainer/job_spec.h"
#include "trainer/training_job.h"

namespace genailab {
namespace {

absl::StatusOr<TrainingJobSpec> SpecFor(const v1::TrainingJobSpec& proto, const TrainingJobRunnerOptions& options) {
  GENAILAB_ASSIGN_OR_RETURN(TrainingJobSpec spec, TrainingJobSpecFromProto(proto, options.repository));
  if (!proto.training().has_intra_op_threads()) spec.training.intra_op_threads = options.default_threads;
  return spec;
}

}  // namespace

JobSpecValidator MakeTrainingJobSpecValidator(const TrainingJobRunnerOptions& options) {
  return [options](const v1::TrainingJobSpec& proto) -> absl::Status {
    GENAILAB_ASSIGN_OR_RETURN(TrainingJobSpec spec, SpecFor(proto, options));
    std::error_code error;
    if (!std::filesystem::is_regular_file(spec.data_path, error)) {
      return absl::NotFoundError(absl::StrCat("data_path ", spec.data_path, " is not a file the trainer can read"));
    }
    const auto vae = spec.model_options.find("vae_checkpoint");
    if (vae != spec.model_options.end() && !std::filesystem::is_directory(vae->second, error)) {
      return absl::NotFoundError(absl::StrCat("model_options.vae_checkpoint ", vae->second,
                                              " is not a checkpoint folder the trainer can read"));
    }
    return absl::OkStatus();
  };
}

JobRunner MakeTrainingJobRunner(const TrainingJobRunnerOptions& options) {
  return [options](const v1::Job& job, const JobRunContext& context) -> absl::StatusOr<JobOutcome> {
    GENAILAB_ASSIGN_OR_RETURN(TrainingJobSpec spec, SpecFor(job.spec(), options));
    // The JobManager's choice among the daemon's devices that match the spec.
    if (!job.device().empty()) spec.training.device = job.device();
    // Diffusion / flow-matching training cannot resume from a checkpoint (it restarts instead).
    if (!IsIterativeModelType(spec.model_type)) {
      spec.training.checkpoint_path = context.job_directory + "/training.ckpt";
    }
    spec.training.cancelled = context.cancelled;
    spec.gated_model_directory = context.job_directory + "/gated_model";

    const auto started = std::chrono::steady_clock::now();
    int first_epoch = 0;
    const int epochs = spec.training.epochs;
    auto on_epoch = [&](const EpochReport& report) {
      if (first_epoch == 0) first_epoch = report.epoch;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const int epochs_this_run = report.epoch - first_epoch + 1;
      v1::JobProgress progress;
      progress.set_epoch(report.epoch);
      progress.set_epochs(epochs);
      progress.set_loss(report.loss);
      progress.set_reconstruction(report.reconstruction);
      progress.set_kl(report.kl);
      progress.set_validation_loss(report.validation_loss);
      progress.set_cells_per_second(report.cells_per_second);
      progress.set_learning_rate(report.learning_rate);
      progress.set_resumed_from_epoch(report.resumed_from_epoch);
      progress.set_eta_seconds(report.stopped_early ? 0.0 : elapsed / epochs_this_run * (epochs - report.epoch));
      context.report_progress(progress);
    };
    GENAILAB_ASSIGN_OR_RETURN(TrainingJobResult result, RunTrainingJob(spec, on_epoch));

    JobOutcome outcome;
    outcome.metrics = result.training_metrics;
    if (!result.gate_failure.empty()) {
      outcome.state = v1::JOB_STATE_GATED;
      outcome.message = absl::StrCat(result.gate_failure, "; the model is kept in ", spec.gated_model_directory);
      return outcome;
    }
    outcome.state = v1::JOB_STATE_SUCCEEDED;
    outcome.published_version = result.published.version;
    outcome.published_directory = result.published.directory;
    if (options.metrics != nullptr) options.metrics->RecordPublish(result.publish_seconds);
    return outcome;
  };
}

}  // namespace genailab
