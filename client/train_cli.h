// `genailab train submit|status|watch|cancel|list`: the trainer half of the `genailab` command, run
// against genailab-trainer through TrainerClient. cli_main.cc parses the flags into TrainCliOptions and
// calls RunTrainCli when the first argument is "train".
//
// Stateless functions; RunTrainCli writes only to the given streams.
#ifndef GENAILAB_CLIENT_TRAIN_CLI_H_
#define GENAILAB_CLIENT_TRAIN_CLI_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/security/channel_security.h"
#include "genailab/v1/trainer_service.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace genailab {

struct TrainCliOptions {
  // "submit", "status", "watch", "cancel" or "list".
  std::string command;
  // host:port of genailab-trainer.
  std::string trainer = "127.0.0.1:50061";
  // submit: a job spec file: .json (the proto3 JSON form of genailab.v1.TrainingJobSpec) or .yaml/.yml.
  std::string spec;
  // status / watch / cancel.
  std::string job;
  // submit: keep watching the job until it finishes.
  bool watch = false;
  absl::Duration timeout = absl::Seconds(30);
  // watch: redraw one progress bar line (for a terminal) instead of printing a line per epoch.
  bool progress_bar = false;
  // --tls_ca, --tls_cert, --tls_key, --token_file (the same flags as the serving commands): TLS, mutual
  // TLS and a bearer token towards a trainer started with --tls_cert/--tls_key[/--tls_client_ca/--token_file].
  ChannelSecurityOptions security;
  // Tests: talk over this channel instead of connecting to `trainer`.
  std::shared_ptr<grpc::Channel> channel;
};

// The usage text of the train subcommands.
std::string TrainCliUsage();

// INVALID_ARGUMENT naming the flag for a command line that cannot run (unknown command, submit without
// --spec, status/watch/cancel without --job).
absl::Status ValidateTrainCliOptions(const TrainCliOptions& options);

// "epoch 3/10 loss=812.1 validation_loss=820.4 lr=0.001 cells/s=45210 eta=12s" (watch, one per epoch).
std::string FormatEpochLine(const v1::JobProgress& progress);
// "[#######.............] 3/10 loss=812.1 val=820.4 45210 cells/s ETA 12s" `width` characters of bar.
std::string FormatProgressBar(const v1::JobProgress& progress, int width);

// Runs options.command; results go to `out`, "genailab: <CODE>: <message>" errors to `err`. Returns
// kExitOk, kExitUsage or kExitError (cli.h), and kExitError also for a watched job that did not succeed.
int RunTrainCli(const TrainCliOptions& options, std::ostream& out, std::ostream& err);

}  // namespace genailab

#endif  // GENAILAB_CLIENT_TRAIN_CLI_H_
