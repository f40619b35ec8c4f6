#include "server/core/model_manager.h"

#include <algorithm>
#include <thread>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "common/model_name.h"
#include "common/status_macros.h"
#include "server/core/model_task.h"
#include "spdlog/spdlog.h"

namespace genailab {
namespace {

// The instance with the fewest pending tasks in `scheduler_of`'s scheduler.
template <typename SchedulerOf>
ModelInstance* LeastBusy(const std::vector<std::unique_ptr<ModelInstance>>& instances, SchedulerOf scheduler_of) {
  ModelInstance* best = nullptr;
  int64_t best_pending = 0;
  for (const auto& instance : instances) {
    const BatchScheduler* scheduler = scheduler_of(*instance);
    if (scheduler == nullptr) continue;
    const int64_t pending = scheduler->pending();
    if (best == nullptr || pending < best_pending) {
      best = instance.get();
      best_pending = pending;
    }
  }
  return best;
}

// Hands the heap memory freed by an unloaded version back to the operating system: glibc keeps freed
// chunks in its arenas, so RSS after an unload would otherwise still count them (bench/reload: after
// 50 load-serve-unload cycles a manual malloc_trim released 3.3 MiB; with this call, after 30, 48 KiB).
void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// Deletes a servable and, for one that served (not hand-built), counts and logs the unload.
void DeleteServable(ServableModel* s, ServerMetrics* metrics) {
  const std::string model = s->name;
  const int64_t v = s->version;
  const bool serving = !s->instances.empty();
  delete s;
  if (!serving) return;
  ReleaseFreedMemory();
  spdlog::info("unloaded model '{}' version {}", model, v);
  if (metrics != nullptr) metrics->RecordModelUnload(model);
}

// True on a worker thread of one of the servable's instances.
bool OnOwnWorkerThread(const ServableModel& s) {
  for (const auto& instance : s.instances) {
    if (instance->batcher != nullptr && instance->batcher->OnWorkerThread()) return true;
    if (instance->stepper != nullptr && instance->stepper->OnWorkerThread()) return true;
  }
  return false;
}

// One tiny forward pass, so that the first request does not pay for lazy initialization.
absl::Status WarmUp(const GenerativeModel& model) {
  const ModelManifest& manifest = model.manifest();
  const CovariateCodes codes(NetworkCovariates(manifest).size(), std::vector<int64_t>{0});
  absl::StatusOr<DenseMatrix> cells = model.Generate(1, codes, /*seed=*/0, /*library_size=*/0.0f,
                                                     /*sample_counts=*/false);
  if (cells.status().code() == absl::StatusCode::kUnimplemented && !model.Samplers().empty()) {
    // Iterative-only models: one decoding-free step-through is the warm-up.
    SamplerOptions sampler;
    sampler.steps = 1;
    GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<SamplingSession> session,
                              model.BeginGeneration(1, codes, 0, sampler));
    while (!session->done()) GENAILAB_RETURN_IF_ERROR(model.StepSessions({session.get()}));
    return model.FinishSession(session.get()).status();
  }
  return cells.status();
}

}  // namespace

const std::vector<CovariateSpec>& NetworkCovariates(const ModelManifest& manifest) {
  static const std::vector<CovariateSpec>* const kNone = new std::vector<CovariateSpec>();
  return manifest.model_type == "vae" ? *kNone : manifest.covariates;
}

absl::Status ServableModel::Submit(std::unique_ptr<BatchTask>& task) const {
  ModelInstance* instance =
      LeastBusy(instances, [](const ModelInstance& i) -> const BatchScheduler* { return i.batcher.get(); });
  if (instance != nullptr) return instance->batcher->Enqueue(task);
  // No scheduler (a hand-built servable): run on the caller's thread.
  std::vector<std::unique_ptr<BatchTask>> batch;
  batch.push_back(std::move(task));
  static_cast<ModelTask&>(*batch[0]).RunBatch(*model, batch);
  return absl::OkStatus();
}

absl::Status ServableModel::SubmitSession(std::unique_ptr<BatchTask>& task) const {
  ModelInstance* instance =
      LeastBusy(instances, [](const ModelInstance& i) -> const BatchScheduler* { return i.stepper.get(); });
  if (instance == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' version ", version, " does not sample iteratively"));
  }
  return instance->stepper->Enqueue(task);
}

absl::StatusOr<VersionPolicy> ParseVersionPolicy(const std::string& text) {
  const std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
  VersionPolicy policy;
  if (parts.size() == 2 && parts[0] == "latest" && absl::SimpleAtoi(parts[1], &policy.latest) &&
      policy.latest > 0) {
    return policy;
  }
  if (parts.size() == 2 && parts[0] == "specific") {
    for (const absl::string_view item : absl::StrSplit(parts[1], ',', absl::SkipEmpty())) {
      int64_t version = 0;
      if (!absl::SimpleAtoi(item, &version) || version <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("version policy '", text, "': '", item, "' is not a positive version"));
      }
      policy.specific.insert(version);
    }
    if (!policy.specific.empty()) return policy;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("version policy '", text, "': expected latest:N (N > 0) or specific:V1,V2,..."));
}

absl::Status ParseVersionPolicyFile(const std::string& text, VersionPolicy* default_policy,
                                    std::map<std::string, VersionPolicy>* policies) {
  int line_number = 0;
  for (const absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("version policy line ", line_number, ": expected '<model> <policy>', got '", line, "'"));
    }
    absl::StatusOr<VersionPolicy> policy = ParseVersionPolicy(fields[1]);
    if (!policy.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("version policy line ", line_number, ": ",
                                                     policy.status().message()));
    }
    if (fields[0] == "*") {
      *default_policy = *policy;
      continue;
    }
    if (absl::Status valid = ValidateModelName(fields[0], "version policy model"); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("version policy line ", line_number, ": ", valid.message()));
    }
    (*policies)[fields[0]] = *policy;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(Options options) {
  if (!options.loader) return absl::InvalidArgumentError("ModelManager::Options.loader is required");
  if (options.poll_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must not be negative");
  }
  if (options.instances <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("instances must be positive, got ", options.instances));
  }
  std::vector<std::pair<std::string, const VersionPolicy*>> policies = {{"default", &options.default_policy}};
  for (const auto& entry : options.policies) policies.emplace_back(entry.first, &entry.second);
  for (const auto& [model, policy] : policies) {
    if (policy->specific.empty() && policy->latest <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("version policy of '", model,
                                                     "': latest must be positive, got ", policy->latest));
    }
  }
  GENAILAB_ASSIGN_OR_RETURN(std::unique_ptr<ModelRepository> repository,
                            ModelRepository::Create(options.repository_root));
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(options), std::move(repository)));
}

ModelManager::ModelManager(Options options, std::unique_ptr<ModelRepository> repository)
    : options_(std::move(options)), repository_(std::move(repository)) {
  if (options_.poll_interval > absl::ZeroDuration()) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }
}

ModelManager::~ModelManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (poll_thread_.joinable()) poll_thread_.join();
  // Drop the manager's references outside mu_ (a version's destructor joins its schedulers), then wait
  // until every version is deleted: one may still be held by a batch finishing on its worker thread, which
  // then deletes it on a thread of its own (BuildServable).
  std::map<std::string, ModelState> models;
  {
    absl::MutexLock lock(&mu_);
    models.swap(models_);
  }
  models.clear();
  absl::MutexLock lock(&live_servables_->mu);
  const auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(live_servables_->mu) {
    return live_servables_->count == 0;
  };
  live_servables_->mu.Await(absl::Condition(&none));
}

void ModelManager::PollLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.poll_interval);
      if (stopping_) return;
    }
    const absl::StatusOr<int> changed = Refresh();
    if (!changed.ok()) spdlog::warn("model repository poll failed: {}", changed.status().ToString());
  }
}

const VersionPolicy& ModelManager::PolicyOf(const std::string& name) const {
  const auto it = options_.policies.find(name);
  return it == options_.policies.end() ? options_.default_policy : it->second;
}

absl::StatusOr<int> ModelManager::LoadNewest() {
  GENAILAB_RETURN_IF_ERROR(Refresh().status());
  absl::MutexLock lock(&mu_);
  int served = 0;
  for (const auto& entry : models_) served += entry.second.served.empty() ? 0 : 1;
  return served;
}

absl::StatusOr<int> ModelManager::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string> models, repository_->ListModels());
  int changed = 0;
  for (const std::string& name : models) {
    const absl::StatusOr<std::vector<int64_t>> versions = repository_->ListVersions(name);
    if (!versions.ok()) continue;  // removed between listings
    changed += Reconcile(name, *versions);
  }
  return changed;
}

bool ModelManager::IsFailed(const std::string& name, int64_t version) const {
  absl::MutexLock lock(&mu_);
  const auto model = models_.find(name);
  if (model == models_.end()) return false;
  const auto record = model->second.records.find(version);
  return record != model->second.records.end() && record->second.state == VersionState::kFailed;
}

int ModelManager::Reconcile(const std::string& name, const std::vector<int64_t>& on_disk) {
  const VersionPolicy& policy = PolicyOf(name);
  std::set<int64_t> pinned;
  std::set<int64_t> unloaded;
  bool disabled = false;
  {
    absl::MutexLock lock(&mu_);
    ModelState& state = models_[name];
    pinned = state.pinned;
    unloaded = state.unloaded;
    disabled = state.disabled;
  }
  int started = 0;
  std::set<int64_t> wanted;
  // Newest first; a version that fails drops out and the next older one takes its place, while a
  // version unloaded by UnloadModel keeps its slot (so unloading does not bring an older one back).
  int slots = 0;
  for (auto v = on_disk.rbegin(); v != on_disk.rend() && !disabled; ++v) {
    const int64_t version = *v;
    const bool chosen =
        policy.specific.empty() ? slots < policy.latest : policy.specific.count(version) > 0;
    if (!chosen || IsFailed(name, version)) continue;
    if (unloaded.count(version) > 0) {
      ++slots;
      continue;
    }
    bool served = false;
    {
      absl::MutexLock lock(&mu_);
      served = models_[name].served.count(version) > 0;
    }
    if (!served) {
      if (!LoadVersion(name, version).ok()) continue;
      ++started;
    }
    ++slots;
    wanted.insert(version);
  }
  // Declared before the lock: a retired version nobody holds is freed after mu_ is released.
  std::vector<std::shared_ptr<const ServableModel>> retired;
  {
    absl::MutexLock lock(&mu_);
    ModelState& state = models_[name];
    std::vector<int64_t> surplus;
    for (const auto& entry : state.served) {
      if (wanted.count(entry.first) == 0 && pinned.count(entry.first) == 0) surplus.push_back(entry.first);
    }
    // Never retire the last served version because the policy found nothing better (e.g. removed files).
    if (!disabled && wanted.empty() && pinned.empty() && !surplus.empty()) surplus.pop_back();
    for (const int64_t version : surplus) retired.push_back(Retire(name, version));
  }
  NotifyIfUnavailable(name, retired);
  return started;
}

void ModelManager::NotifyIfUnavailable(const std::string& name,
                                       const std::vector<std::shared_ptr<const ServableModel>>& retired) {
  if (retired.empty() || !options_.on_model_unavailable) return;
  {
    absl::MutexLock lock(&mu_);
    const auto model = models_.find(name);
    if (model != models_.end() && !model->second.served.empty()) return;
  }
  spdlog::info("model '{}' has no served version left", name);
  options_.on_model_unavailable(name);
}

absl::StatusOr<std::shared_ptr<ServableModel>> ModelManager::BuildServable(const std::string& name,
                                                                          int64_t version) {
  GENAILAB_ASSIGN_OR_RETURN(const std::string directory, repository_->VersionDirectory(name, version));
  ServerMetrics* metrics = options_.metrics;
  // The deleter counts the unload when the last request lets go of a retired version. That request may
  // be an asynchronous one whose completion runs on one of the version's own worker threads, which the
  // instances' destructors join: the deletion then moves to a thread of its own. The manager's destructor
  // waits until every version built here is deleted (live_servables_).
  {
    absl::MutexLock lock(&live_servables_->mu);
    ++live_servables_->count;
  }
  std::shared_ptr<ServableModel> servable(
      new ServableModel(), [metrics, live = live_servables_](ServableModel* s) {
        const auto deleted = [live] {
          absl::MutexLock lock(&live->mu);
          --live->count;
        };
        if (!OnOwnWorkerThread(*s)) {
          DeleteServable(s, metrics);
          deleted();
          return;
        }
        std::thread([metrics, deleted, s] {
          DeleteServable(s, metrics);
          deleted();
        }).detach();
      });
  servable->name = name;
  servable->version = version;
  for (int i = 0; i < options_.instances; ++i) {
    absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = options_.loader(directory, options_.device);
    if (loaded.ok() && *loaded == nullptr) loaded = absl::InternalError("loader returned no model");
    GENAILAB_RETURN_IF_ERROR(loaded.status());
    auto instance = std::make_unique<ModelInstance>();
    instance->model = std::shared_ptr<const GenerativeModel>(std::move(loaded).value());
    if (options_.warm_up) {
      const absl::Status warm = WarmUp(*instance->model);
      if (!warm.ok()) {
        return absl::Status(warm.code(), absl::StrCat("warm-up failed: ", warm.message()));
      }
    }
    const GenerativeModel* model = instance->model.get();
    DynamicBatcher::Options batching = options_.batching;
    batching.name = name;
    batching.metrics = metrics;
    GENAILAB_ASSIGN_OR_RETURN(
        instance->batcher,
        DynamicBatcher::Create(batching, [model](std::vector<std::unique_ptr<BatchTask>>& batch) {
          static_cast<ModelTask&>(*batch[0]).RunBatch(*model, batch);
        }));
    if (!model->Samplers().empty()) {
      StepScheduler::Options stepping = options_.stepping;
      stepping.name = name;
      stepping.metrics = metrics;
      GENAILAB_ASSIGN_OR_RETURN(instance->stepper, StepScheduler::Create(stepping, model));
    }
    if (i == 0) servable->model = instance->model;
    servable->instances.push_back(std::move(instance));
  }
  return servable;
}

absl::StatusOr<std::shared_ptr<const ServableModel>> ModelManager::LoadVersion(const std::string& name,
                                                                              int64_t version) {
  {
    absl::MutexLock lock(&mu_);
    models_[name].records[version] = VersionRecord{VersionState::kLoading, "", {}};
  }
  absl::StatusOr<std::shared_ptr<ServableModel>> built = BuildServable(name, version);
  if (!built.ok()) {
    std::string serving;
    {
      absl::MutexLock lock(&mu_);
      ModelState& state = models_[name];
      state.records[version] = VersionRecord{VersionState::kFailed, built.status().ToString(), {}};
      if (!state.served.empty()) serving = absl::StrCat(" (still serving version ", state.served.rbegin()->first, ")");
    }
    spdlog::error("failed to load model '{}' version {}: {}{}", name, version, built.status().ToString(), serving);
    if (options_.metrics != nullptr) options_.metrics->RecordModelLoadFailure(name);
    return built.status();
  }
  std::shared_ptr<const ServableModel> servable = std::move(built).value();
  {
    absl::MutexLock lock(&mu_);
    ModelState& state = models_[name];
    state.served[version] = servable;
    state.records[version] = VersionRecord{VersionState::kAvailable, "", {}};
  }
  if (options_.metrics != nullptr) {
    options_.metrics->SetModelLoaded(name, version, true);
    options_.metrics->RecordModelLoad(name);
  }
  PublishServedVersion(name);
  spdlog::info("serving model '{}' version {} ({} instance(s) on {})", name, version, options_.instances,
               options_.device);
  if (options_.on_model_loaded) options_.on_model_loaded(*servable);
  return servable;
}

void ModelManager::PublishServedVersion(const std::string& name) {
  if (options_.metrics == nullptr) return;
  int64_t newest = 0;
  {
    absl::MutexLock lock(&mu_);
    const auto it = models_.find(name);
    if (it != models_.end() && !it->second.served.empty()) newest = it->second.served.rbegin()->first;
  }
  options_.metrics->SetServedVersion(name, newest);
}

std::shared_ptr<const ServableModel> ModelManager::Retire(const std::string& name, int64_t version) {
  ModelState& state = models_[name];
  const auto it = state.served.find(version);
  if (it == state.served.end()) return nullptr;
  std::shared_ptr<const ServableModel> retired = std::move(it->second);
  state.records[version] = VersionRecord{VersionState::kDraining, "", retired};
  state.served.erase(it);
  spdlog::info("retiring model '{}' version {}: it drains, then unloads", name, version);
  if (options_.metrics != nullptr) {
    options_.metrics->SetModelLoaded(name, version, false);
    options_.metrics->SetServedVersion(name, state.served.empty() ? 0 : state.served.rbegin()->first);
  }
  return retired;
}

absl::StatusOr<std::shared_ptr<const ServableModel>> ModelManager::LoadModel(const std::string& name,
                                                                            int64_t version) {
  GENAILAB_RETURN_IF_ERROR(ValidateModelName(name, "model name"));
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("model.version must be 0 (newest) or positive, got ", version));
  }
  absl::MutexLock refresh_lock(&refresh_mu_);
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<int64_t> on_disk, repository_->ListVersions(name));
  if (version == 0) {
    if (on_disk.empty()) return absl::NotFoundError(absl::StrCat("model '", name, "' has no version on disk"));
    version = on_disk.back();
  } else if (std::find(on_disk.begin(), on_disk.end(), version) == on_disk.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' version ", version, " is not in the repository"));
  }
  {
    absl::MutexLock lock(&mu_);
    ModelState& state = models_[name];
    state.pinned.insert(version);
    state.unloaded.erase(version);
    const auto it = state.served.find(version);
    if (it != state.served.end()) return it->second;
  }
  absl::StatusOr<std::shared_ptr<const ServableModel>> loaded = LoadVersion(name, version);
  if (!loaded.ok()) {
    absl::MutexLock lock(&mu_);
    models_[name].pinned.erase(version);
  }
  return loaded;
}

absl::Status ModelManager::UnloadModel(const std::string& name, int64_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("model.version must be 0 (all) or positive, got ", version));
  }
  absl::MutexLock refresh_lock(&refresh_mu_);
  // Declared before the lock: a retired version nobody holds is freed after mu_ is released.
  std::vector<std::shared_ptr<const ServableModel>> retired;
  {
    absl::MutexLock lock(&mu_);
    const auto model = models_.find(name);
    if (model == models_.end() || model->second.served.empty()) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' is not served"));
    }
    ModelState& state = model->second;
    std::vector<int64_t> versions;
    if (version == 0) {
      for (const auto& entry : state.served) versions.push_back(entry.first);
      state.disabled = true;
    } else if (state.served.count(version) > 0) {
      versions.push_back(version);
    } else {
      std::vector<int64_t> loaded;
      for (const auto& entry : state.served) loaded.push_back(entry.first);
      return absl::NotFoundError(absl::StrCat("model '", name, "' version ", version, " is not served (loaded: ",
                                              absl::StrJoin(loaded, ", "), ")"));
    }
    for (const int64_t v : versions) {
      state.pinned.erase(v);
      state.unloaded.insert(v);
      retired.push_back(Retire(name, v));
    }
  }
  NotifyIfUnavailable(name, retired);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const ServableModel>> ModelManager::Get(const std::string& name,
                                                                       int64_t version) const {
  absl::MutexLock lock(&mu_);
  const auto model = models_.find(name);
  if (model == models_.end() || model->second.served.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  const auto& served = model->second.served;
  if (version == 0) return served.rbegin()->second;
  const auto it = served.find(version);
  if (it == served.end()) {
    std::vector<int64_t> loaded;
    for (const auto& entry : served) loaded.push_back(entry.first);
    return absl::NotFoundError(absl::StrCat("model '", name, "' version ", version, " not found (loaded: ",
                                            absl::StrJoin(loaded, ", "), ")"));
  }
  return it->second;
}

std::vector<std::shared_ptr<const ServableModel>> ModelManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const ServableModel>> models;
  for (const auto& entry : models_) {
    if (!entry.second.served.empty()) models.push_back(entry.second.served.rbegin()->second);
  }
  return models;
}

std::vector<int64_t> ModelManager::ServedVersions(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> versions;
  const auto it = models_.find(name);
  if (it == models_.end()) return versions;
  for (const auto& entry : it->second.served) versions.push_back(entry.first);
  return versions;
}

std::vector<VersionInfo> ModelManager::Versions(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  std::vector<VersionInfo> versions;
  const auto model = models_.find(name);
  if (model == models_.end()) return versions;
  for (const auto& [version, record] : model->second.records) {
    VersionInfo info;
    info.version = version;
    info.state = record.state;
    info.error = record.error;
    if (record.state == VersionState::kDraining && record.retired.expired()) info.state = VersionState::kUnloaded;
    versions.push_back(std::move(info));
  }
  return versions;
}

}  // namespace genailab
