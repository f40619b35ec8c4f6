// ModelManager: loads and serves the newest version of every model in a ModelRepository.
//
// LoadNewest() loads, for each model, the newest version that loads (a version that fails is logged,
// counted and skipped; a model with no loadable version is not served). Refresh() later loads versions
// newer than the one served and swaps them in; when a new version fails, the old one keeps serving. A
// version that failed once is not retried. Models removed from disk keep serving until restart.
//
// Ownership and lifecycle: requests hold std::shared_ptr<const ServableModel>, so a swap never drops a
// running request; the old model is freed when its last request finishes. With a non-zero poll_interval
// the manager runs one thread that calls Refresh() periodically; the destructor stops and joins it.
//
// Thread-safety: all methods are thread-safe. Loading runs outside the serving lock, so Get() never
// waits on a load; concurrent Refresh() calls are serialized.
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
#include "server/core/model_repository.h"
#include "server/core/server_metrics.h"

namespace genailab {

// One loaded model version.
struct ServableModel {
  std::string name;
  int64_t version = 0;
  std::shared_ptr<const GenerativeModel> model;
};

// Loads the version folder `directory` onto `device`. LoadCheckpoint (models/checkpoint.h) is the
// production loader; tests inject fakes.
using ModelLoader = std::function<absl::StatusOr<std::unique_ptr<GenerativeModel>>(
    const std::string& directory, const std::string& device)>;

// Called after a version starts being served (initial load or swap), outside the manager's locks.
using ModelLoadedCallback = std::function<void(const ServableModel&)>;

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
  };

  // INVALID_ARGUMENT for a missing loader, empty root or negative poll_interval; NOT_FOUND if the root
  // is not a directory. Loads nothing: call LoadNewest().
  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(Options options);

  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Loads the newest loadable version of every model. Returns how many models are served afterwards;
  // NOT_FOUND if the repository cannot be listed. Individual load failures are logged, not returned.
  absl::StatusOr<int> LoadNewest();

  // Loads versions newer than the served ones. Returns how many models changed version (or started
  // being served); NOT_FOUND if the repository cannot be listed.
  absl::StatusOr<int> Refresh();

  // The served version of `name` (version 0 = newest, i.e. the served one). NOT_FOUND naming the
  // model, or the version and which one is loaded.
  absl::StatusOr<std::shared_ptr<const ServableModel>> Get(const std::string& name,
                                                           int64_t version) const;

  // Every served model, sorted by name.
  std::vector<std::shared_ptr<const ServableModel>> List() const;

  const std::string& device() const { return options_.device; }

 private:
  ModelManager(Options options, std::unique_ptr<ModelRepository> repository);

  void PollLoop();

  const Options options_;
  const std::unique_ptr<ModelRepository> repository_;

  // Serializes Refresh(); held while loading, never while serving.
  absl::Mutex refresh_mu_;
  std::set<std::pair<std::string, int64_t>> failed_versions_ ABSL_GUARDED_BY(refresh_mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const ServableModel>> served_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread poll_thread_;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_MODEL_MANAGER_H_
