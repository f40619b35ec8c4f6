#include "client/train_cli.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli.h"
#include "client/trainer_client.h"
#include "common/yaml/yaml_to_json.h"
#include "google/protobuf/util/json_util.h"

namespace genailab {
namespace {

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string Seconds(double seconds) {
  if (!(seconds > 0)) return "-";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

absl::StatusOr<v1::TrainingJobSpec> ReadSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--spec: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string json = text.str();
  if (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml")) {
    absl::StatusOr<std::string> converted = YamlToJson(json);
    if (!converted.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--spec ", path, ": ", converted.status().message()));
    }
    json = *converted;
  }
  v1::TrainingJobSpec spec;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &spec);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--spec ", path, ": ", parsed.message().as_string()));
  }
  return spec;
}

void PrintJob(const v1::Job& job, std::ostream& out) {
  out << job.id() << " " << StateName(job.state()) << " model=" << job.spec().model_name()
      << " source=" << job.source() << " submitted=" << job.submitted_at()
      << (job.device().empty() ? "" : " device=" + job.device()) << "\n";
  if (job.progress().epoch() > 0) out << "  " << FormatEpochLine(job.progress()) << "\n";
  if (job.published_version() > 0) {
    out << "  published version " << job.published_version() << " at " << job.published_directory() << "\n";
  }
  if (!job.message().empty()) out << "  " << job.message() << "\n";
  for (const auto& [name, value] : job.metrics()) out << "  " << name << "=" << value << "\n";
}

// Streams progress until the job ends, then prints its final record. OK only if it succeeded.
absl::Status WatchJob(TrainerClient& client, const std::string& job_id, bool progress_bar, std::ostream& out) {
  int last_epoch = -1;
  bool drew_bar = false;
  const absl::Status watched = client.Watch(job_id, [&](const v1::JobProgress& progress) {
    if (progress.epoch() == last_epoch || progress.epoch() == 0) return;
    last_epoch = progress.epoch();
    if (progress_bar) {
      out << "\r" << FormatProgressBar(progress, 30) << std::flush;
      drew_bar = true;
    } else {
      out << job_id << " " << FormatEpochLine(progress) << "\n" << std::flush;
    }
  });
  if (drew_bar) out << "\n";
  if (!watched.ok()) return watched;
  absl::StatusOr<v1::Job> job = client.Get(job_id);
  if (!job.ok()) return job.status();
  PrintJob(*job, out);
  if (job->state() != v1::JOB_STATE_SUCCEEDED) {
    return absl::AbortedError(absl::StrCat("job ", job_id, " ended ", StateName(job->state()),
                                           job->message().empty() ? "" : ": " + job->message()));
  }
  return absl::OkStatus();
}

absl::Status Execute(const TrainCliOptions& options, std::ostream& out) {
  TrainerClient::Options client_options;
  client_options.target = options.trainer;
  client_options.timeout = options.timeout;
  client_options.security = options.security;
  absl::StatusOr<std::unique_ptr<TrainerClient>> client =
      options.channel ? TrainerClient::Create(options.channel, client_options) : TrainerClient::Create(client_options);
  if (!client.ok()) return client.status();
  TrainerClient& trainer = **client;
  if (options.command == "submit") {
    absl::StatusOr<v1::TrainingJobSpec> spec = ReadSpecFile(options.spec);
    if (!spec.ok()) return spec.status();
    absl::StatusOr<v1::Job> job = trainer.Submit(*spec);
    if (!job.ok()) return job.status();
    out << job->id() << "\n" << std::flush;
    return options.watch ? WatchJob(trainer, job->id(), options.progress_bar, out) : absl::OkStatus();
  }
  if (options.command == "status" || options.command == "cancel") {
    absl::StatusOr<v1::Job> job = options.command == "status" ? trainer.Get(options.job) : trainer.Cancel(options.job);
    if (!job.ok()) return job.status();
    PrintJob(*job, out);
    return absl::OkStatus();
  }
  if (options.command == "watch") return WatchJob(trainer, options.job, options.progress_bar, out);
  absl::StatusOr<std::vector<v1::Job>> jobs = trainer.List();
  if (!jobs.ok()) return jobs.status();
  for (const v1::Job& job : *jobs) {
    out << absl::StrFormat("%-12s %-10s %-20s epoch %d/%d%s\n", job.id(), StateName(job.state()),
                           job.spec().model_name(), job.progress().epoch(), job.progress().epochs(),
                           job.published_version() > 0 ? absl::StrCat(" -> version ", job.published_version())
                                                       : std::string());
  }
  return absl::OkStatus();
}

}  // namespace

std::string TrainCliUsage() {
  return "genailab train: talk to the genailab-trainer daemon (--trainer=host:port, default 127.0.0.1:50061)\n"
         "  genailab train submit --spec=job.json [--watch]   queue a job (JSON job spec; prints its id)\n"
         "  genailab train status --job=ID                    a job's state, progress and metrics\n"
         "  genailab train watch --job=ID                     follow a job until it ends (progress bar on a\n"
         "                                                    terminal, one line per epoch otherwise)\n"
         "  genailab train cancel --job=ID                    cancel a queued or running job\n"
         "  genailab train list                               every job, oldest first\n"
         "A trainer behind TLS: --tls_ca=ca.pem [--tls_cert=client.pem --tls_key=client.key] [--token_file=F]\n";
}

absl::Status ValidateTrainCliOptions(const TrainCliOptions& options) {
  const std::string& command = options.command;
  if (command.empty()) return absl::InvalidArgumentError("train: no subcommand given");
  if (command != "submit" && command != "status" && command != "watch" && command != "cancel" &&
      command != "list") {
    return absl::InvalidArgumentError(
        absl::StrCat("train: unknown subcommand '", command, "' (submit, status, watch, cancel or list)"));
  }
  if (command == "submit" && options.spec.empty()) return absl::InvalidArgumentError("--spec is required for submit");
  if ((command == "status" || command == "watch" || command == "cancel") && options.job.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--job is required for ", command));
  }
  if (options.trainer.empty()) return absl::InvalidArgumentError("--trainer must not be empty");
  return absl::OkStatus();
}

std::string FormatEpochLine(const v1::JobProgress& progress) {
  return absl::StrFormat("epoch %d/%d loss=%.4g validation_loss=%.4g lr=%.3g cells/s=%.0f eta=%s", progress.epoch(),
                         progress.epochs(), progress.loss(), progress.validation_loss(), progress.learning_rate(),
                         progress.cells_per_second(), Seconds(progress.eta_seconds()));
}

std::string FormatProgressBar(const v1::JobProgress& progress, int width) {
  const double fraction =
      progress.epochs() > 0 ? std::min(1.0, static_cast<double>(progress.epoch()) / progress.epochs()) : 0.0;
  const int filled = static_cast<int>(std::lround(fraction * width));
  return absl::StrFormat("[%s%s] %d/%d loss=%.4g val=%.4g %.0f cells/s ETA %s", std::string(filled, '#'),
                         std::string(width - filled, '.'), progress.epoch(), progress.epochs(), progress.loss(),
                         progress.validation_loss(), progress.cells_per_second(), Seconds(progress.eta_seconds()));
}

int RunTrainCli(const TrainCliOptions& options, std::ostream& out, std::ostream& err) {
  if (absl::Status valid = ValidateTrainCliOptions(options); !valid.ok()) {
    err << "genailab: " << valid.ToString() << "\n\n" << TrainCliUsage();
    return kExitUsage;
  }
  if (absl::Status done = Execute(options, out); !done.ok()) {
    err << "genailab: " << done.ToString() << "\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace genailab
