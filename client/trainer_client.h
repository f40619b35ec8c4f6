// TrainerClient: the C++ client of genailab.v1.TrainerService (the genailab-trainer daemon), used by
// `genailab train ...`. Plaintext gRPC, or TLS / mutual TLS with an optional bearer token
// (common/security/channel_security.h), matching genailab-trainer's --tls_* and --token_file flags.
//
// Ownership: owns its stub and shares the channel. Thread-safe (each call uses its own context).
#ifndef GENAILAB_CLIENT_TRAINER_CLIENT_H_
#define GENAILAB_CLIENT_TRAINER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/security/channel_security.h"
#include "genailab/v1/trainer_service.grpc.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace genailab {

class TrainerClient {
 public:
  struct Options {
    // host:port of genailab-trainer.
    std::string target = "127.0.0.1:50061";
    // Deadline of each unary RPC (WatchJob has none: it lasts as long as the job).
    absl::Duration timeout = absl::Seconds(30);
    // TLS (security.tls_ca_file set), mutual TLS and a bearer token; all empty = plaintext.
    ChannelSecurityOptions security;
  };

  // The channel connects lazily: an unreachable trainer (or one that refuses the TLS handshake) shows up
  // as UNAVAILABLE on the first call, a missing or wrong token as UNAUTHENTICATED. INVALID_ARGUMENT for an
  // empty target or a non-positive timeout; errors of MakeChannelCredentials naming the security option.
  static absl::StatusOr<std::unique_ptr<TrainerClient>> Create(const Options& options);
  // Uses an existing channel (e.g. an in-process test server); options.target is ignored.
  static absl::StatusOr<std::unique_ptr<TrainerClient>> Create(std::shared_ptr<grpc::Channel> channel,
                                                               const Options& options);

  // Every method returns the trainer's status unchanged when the RPC fails (INVALID_ARGUMENT naming the
  // spec field, NOT_FOUND for an unknown job, UNAVAILABLE when the trainer cannot be reached, ...).
  absl::StatusOr<v1::Job> Submit(const v1::TrainingJobSpec& spec);
  absl::StatusOr<v1::Job> Get(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Job>> List();
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id);
  // Calls `on_progress` for every update until the job finishes; OK when the stream ends normally.
  absl::Status Watch(const std::string& job_id, const std::function<void(const v1::JobProgress&)>& on_progress);

 private:
  TrainerClient(std::unique_ptr<v1::TrainerService::Stub> stub, Options options)
      : stub_(std::move(stub)), options_(std::move(options)) {}

  std::unique_ptr<v1::TrainerService::Stub> stub_;
  const Options options_;
};

}  // namespace genailab

#endif  // GENAILAB_CLIENT_TRAINER_CLIENT_H_
