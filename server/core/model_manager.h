// ModelManager: loads model versions from a ModelRepository according to a version policy, puts each
// behind its own schedulers, and retires versions that fall out of the policy once they drain.
//
// Versions: per model, a VersionPolicy chooses which versions on disk are served (the newest N, or a
// fixed list); LoadModel() adds a version explicitly and UnloadModel() retires one (or, with version 0,
// all of them, taking the model out of its policy) and keeps polling from bringing it back until
// LoadModel() names it again. A version is loaded (the loader checks
// the manifest's sha256), warmed up with one tiny forward pass, and only then receives traffic. A version
// that fails to load or warm up is reported (log, genailab_model_load_failures_total, Versions() with
// FAILED and the error), never retried, and leaves the versions already served in place: the policy is
// re-evaluated without it, so "latest 1" keeps serving the previous version. Options.on_model_loaded and
// on_model_unavailable tell the owner when a model starts being served and when its last served
// version is retired (readiness, e.g. per-model gRPC health).
//
// Ownership and lifecycle: requests hold std::shared_ptr<const ServableModel>, so retiring a version
// never drops a running request; a retired version is DRAINING until its last holder lets go, then its
// schedulers finish, it is freed (on glibc, malloc_trim hands the freed heap back to the system) and
// counted in genailab_model_unloads_total (UNLOADED). With a non-zero
// poll_interval one thread calls Refresh() periodically; the destructor stops and joins it. The
// destructor then drops the manager's own references and waits until every version it built is deleted:
// a worker thread may still be finishing the batch whose tasks hold the last reference, and the
// version's schedulers use Options.metrics. So whoever destroys the manager must have let go of every
// servable it got from it first (a server does, once its calls have drained).
//
// Instances: every version is loaded `instances` times (Options.instances), each copy with its own
// DynamicBatcher (and, for iterative models, its own StepScheduler); requests go to the instance with
// the fewest pending tasks.
//
// Thread-safety: all methods are thread-safe. Loading runs outside the serving lock, so Get() never
// waits on a load; Refresh(), LoadModel() and UnloadModel() are serialized with each other.
#ifndef GENAILAB_SERVER_CORE_MODEL_MANAGER_H_
#define GENAILAB_SERVER_CORE_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "models/generative_model.h"
#include "server/core/batch_scheduler.h"
#include "server/core/dynamic_batcher.h"
#include "server/core/model_repository.h"
#include "server/core/server_metrics.h"
#include "server/core/step_scheduler.h"

namespace genailab {

// One loaded copy of a version with its schedulers. Destroying it stops the schedulers (finishing what
// they accepted) before the model is freed.
struct ModelInstance {
  std::shared_ptr<const GenerativeModel> model;
  std::unique_ptr<DynamicBatcher> batcher;
  // Null unless the model samples iteratively (Samplers() is not empty).
  std::unique_ptr<StepScheduler> stepper;
};

// One served model version.
struct ServableModel {
  std::string name;
  int64_t version = 0;
  // Instance 0's model: the manifest and anything that needs no scheduler.
  std::shared_ptr<const GenerativeModel> model;
  // Empty for a ServableModel built by hand (tests): work then runs on the caller's thread.
  std::vector<std::unique_ptr<ModelInstance>> instances;

  // Hands `task` (a ModelTask) to the batcher of the least busy instance, or runs it at once when there
  // is none. Ownership as BatchScheduler::Enqueue.
  absl::Status Submit(std::unique_ptr<BatchTask>& task) const;
  // Hands an iterative-sampling task to the least busy instance's StepScheduler. FAILED_PRECONDITION
  // when the model does not sample iteratively. Ownership as BatchScheduler::Enqueue.
  absl::Status SubmitSession(std::unique_ptr<BatchTask>& task) const;
};

// Which versions of a model are served.
struct VersionPolicy {
  // > 0: the newest `latest` loadable versions on disk. Ignored when `specific` is not empty.
  int latest = 1;
  // Exactly these versions (those on disk).
  std::set<int64_t> specific;
};

// Parses "latest:N" or "specific:V1,V2,...". INVALID_ARGUMENT naming the text otherwise.
absl::StatusOr<VersionPolicy> ParseVersionPolicy(const std::string& text);

// Parses a version-policy file: one "<model> <policy>" per line (policy as ParseVersionPolicy; model
// "*" sets the default); blank lines and lines starting with '#' are ignored. INVALID_ARGUMENT naming
// the line for anything else or an invalid model name.
absl::Status ParseVersionPolicyFile(const std::string& text, VersionPolicy* default_policy,
                                    std::map<std::string, VersionPolicy>* policies);

// The state of one version the manager knows of (mirrors genailab.v1.VersionStatus.State).
enum class VersionState { kLoading, kAvailable, kDraining, kUnloaded, kFailed };
struct VersionInfo {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string error;  // kFailed only
};

// The covariates a model's network is conditioned on: every manifest covariate of a conditional model,
// none of a plain "vae" (whose manifest may still list the condition's vocabulary). A reference into
// `manifest` (or to an empty list), valid as long as it is: requests read it without copying the
// covariates' names and values.
const std::vector<CovariateSpec>& NetworkCovariates(const ModelManifest& manifest);

// Loads the version folder `directory` onto `device`. LoadCheckpoint (models/checkpoint.h) is the
// production loader; tests inject fakes.
using ModelLoader = std::function<absl::StatusOr<std::unique_ptr<GenerativeModel>>(
    const std::string& directory, const std::string& device)>;

// Called after a version starts being served, outside the manager's serving lock.
using ModelLoadedCallback = std::function<void(const ServableModel&)>;

// Called with a model's name when its last served version is retired (UnloadModel, or the policy), so
// the model receives no new requests until a version is loaded again (then ModelLoadedCallback runs).
// Runs outside the manager's serving lock; calls about one model never overlap and arrive in order
// with its ModelLoadedCallback calls.
using ModelUnavailableCallback = std::function<void(const std::string& model)>;

class ModelManager {
 public:
  struct Options {
    // Required: the repository root (<root>/<model>/<version>/).
    std::string repository_root;
    // Handed to the loader: "auto", "cpu" or "cuda:N".
    std::string device = "auto";
    // Required.
    ModelLoader loader;
    // > 0: a background thread calls Refresh() this often. Zero (default) = no polling.
    absl::Duration poll_interval = absl::ZeroDuration();
    // Not owned; may be null (metrics off). Must outlive the manager.
    ServerMetrics* metrics = nullptr;
    // Optional.
    ModelLoadedCallback on_model_loaded;
    // Optional.
    ModelUnavailableCallback on_model_unavailable;
    // The policy of models without an entry in `policies`.
    VersionPolicy default_policy;
    std::map<std::string, VersionPolicy> policies;
    // Copies of every version on the device, each with its own schedulers. Must be positive.
    int instances = 1;
    // Batching of every instance (name and metrics are set per model).
    DynamicBatcher::Options batching;
    // Step-level batching of iterative models.
    StepScheduler::Options stepping;
    // Run one tiny forward pass before a version receives traffic.
    bool warm_up = true;
  };

  // INVALID_ARGUMENT for a missing loader, empty root, negative poll_interval, non-positive instances
  // or a policy with latest <= 0 and no specific versions; NOT_FOUND if the root is not a directory.
  // Loads nothing: call LoadNewest().
  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(Options options);

  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Loads what the policies ask for. Returns how many models are served afterwards; NOT_FOUND if the
  // repository cannot be listed. Individual load failures are logged, not returned.
  absl::StatusOr<int> LoadNewest();

  // Brings every model in line with its policy: loads missing versions, retires surplus ones. Returns
  // how many versions started being served; NOT_FOUND if the repository cannot be listed.
  absl::StatusOr<int> Refresh();

  // Loads `version` of `name` (0 = the newest on disk) and serves it until UnloadModel(); returns it.
  // Already served: returns it at once. INVALID_ARGUMENT for a bad name or negative version; NOT_FOUND
  // for a model or version not in the repository; the loader's error (also recorded as FAILED) when it
  // fails to load or warm up.
  absl::StatusOr<std::shared_ptr<const ServableModel>> LoadModel(const std::string& name, int64_t version);

  // Retires `version` of `name` (0 = every version): it receives no new requests and is freed once its
  // running requests finish. NOT_FOUND unless the model (version) is served.
  absl::Status UnloadModel(const std::string& name, int64_t version);

  // The served `version` of `name` (0 = the newest served). NOT_FOUND naming the model, or the version
  // and which ones are loaded.
  absl::StatusOr<std::shared_ptr<const ServableModel>> Get(const std::string& name, int64_t version) const;

  // The newest served version of every model, sorted by name.
  std::vector<std::shared_ptr<const ServableModel>> List() const;
  // Every served version of `name`, ascending.
  std::vector<int64_t> ServedVersions(const std::string& name) const;
  // Every version of `name` the manager knows of, ascending.
  std::vector<VersionInfo> Versions(const std::string& name) const;

  const std::string& device() const { return options_.device; }

 private:
  // What the manager knows of one version (under mu_).
  struct VersionRecord {
    VersionState state = VersionState::kLoading;
    std::string error;
    // While kDraining: the retired servable, to see when its last request finished.
    std::weak_ptr<const ServableModel> retired;
  };
  struct ModelState {
    std::map<int64_t, std::shared_ptr<const ServableModel>> served;
    std::map<int64_t, VersionRecord> records;
    // LoadModel() versions kept regardless of the policy; UnloadModel() versions kept out of it.
    std::set<int64_t> pinned;
    std::set<int64_t> unloaded;
    // UnloadModel(version 0): the policy serves nothing more of this model (LoadModel still does).
    bool disabled = false;
  };

  // Counts the versions built and not yet deleted (a deletion may run on a thread of its own, see
  // BuildServable), so that the destructor can wait for them. Shared with the deleters.
  struct LiveServables {
    absl::Mutex mu;
    int64_t count ABSL_GUARDED_BY(mu) = 0;
  };

  ModelManager(Options options, std::unique_ptr<ModelRepository> repository);

  void PollLoop();
  const VersionPolicy& PolicyOf(const std::string& name) const;
  // Brings `name` in line with its policy. Returns how many versions started serving.
  int Reconcile(const std::string& name, const std::vector<int64_t>& on_disk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  // Loads, warms up and serves one version; records FAILED on error.
  absl::StatusOr<std::shared_ptr<const ServableModel>> LoadVersion(const std::string& name, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  absl::StatusOr<std::shared_ptr<ServableModel>> BuildServable(const std::string& name, int64_t version);
  // Stops serving `version` (it drains). Returns the manager's reference, for the caller to drop after
  // releasing mu_ (the version's destructor stops its schedulers, which must not run under mu_).
  std::shared_ptr<const ServableModel> Retire(const std::string& name, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs on_model_unavailable for `name` when `retired` is not empty and nothing of it is served any
  // more. Called after releasing mu_, still under refresh_mu_ (which orders it with on_model_loaded).
  void NotifyIfUnavailable(const std::string& name,
                           const std::vector<std::shared_ptr<const ServableModel>>& retired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  bool IsFailed(const std::string& name, int64_t version) const;
  void PublishServedVersion(const std::string& name);

  const Options options_;
  const std::unique_ptr<ModelRepository> repository_;
  const std::shared_ptr<LiveServables> live_servables_ = std::make_shared<LiveServables>();

  // Serializes Refresh/LoadModel/UnloadModel; held while loading, never while serving.
  absl::Mutex refresh_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, ModelState> models_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread poll_thread_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_MODEL_MANAGER_H_
