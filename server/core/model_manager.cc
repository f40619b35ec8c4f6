#include "server/core/model_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(Options options) {
  if (!options.loader) return absl::InvalidArgumentError("ModelManager::Options.loader is required");
  if (options.poll_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must not be negative");
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

absl::StatusOr<int> ModelManager::LoadNewest() {
  GENAILAB_RETURN_IF_ERROR(Refresh().status());
  absl::MutexLock lock(&mu_);
  return static_cast<int>(served_.size());
}

absl::StatusOr<int> ModelManager::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  GENAILAB_ASSIGN_OR_RETURN(const std::vector<std::string> models, repository_->ListModels());
  int changed = 0;
  for (const std::string& name : models) {
    const absl::StatusOr<std::vector<int64_t>> versions = repository_->ListVersions(name);
    if (!versions.ok()) continue;  // removed between listings
    int64_t served_version = 0;
    {
      absl::MutexLock lock(&mu_);
      const auto it = served_.find(name);
      if (it != served_.end()) served_version = it->second->version;
    }
    // Newest first; stop at the served version.
    for (auto v = versions->rbegin(); v != versions->rend() && *v > served_version; ++v) {
      const int64_t version = *v;
      if (failed_versions_.count({name, version}) > 0) continue;
      absl::StatusOr<std::unique_ptr<GenerativeModel>> loaded = absl::UnknownError("not loaded");
      const absl::StatusOr<std::string> directory = repository_->VersionDirectory(name, version);
      if (directory.ok()) {
        loaded = options_.loader(*directory, options_.device);
      } else {
        loaded = directory.status();
      }
      if (!loaded.ok() || *loaded == nullptr) {
        const std::string why =
            loaded.ok() ? std::string("loader returned no model") : loaded.status().ToString();
        spdlog::error("failed to load model '{}' version {}: {}{}", name, version, why,
                      served_version > 0 ? absl::StrCat(" (still serving version ", served_version, ")")
                                         : std::string());
        failed_versions_.insert({name, version});
        if (options_.metrics != nullptr) options_.metrics->RecordModelLoadFailure(name);
        continue;
      }
      auto servable = std::make_shared<ServableModel>();
      servable->name = name;
      servable->version = version;
      servable->model = std::shared_ptr<const GenerativeModel>(std::move(loaded).value());
      {
        absl::MutexLock lock(&mu_);
        served_[name] = servable;
      }
      if (options_.metrics != nullptr) {
        if (served_version > 0) options_.metrics->SetModelLoaded(name, served_version, false);
        options_.metrics->SetModelLoaded(name, version, true);
      }
      spdlog::info("serving model '{}' version {}{}", name, version,
                   served_version > 0 ? absl::StrCat(" (replacing version ", served_version, ")")
                                      : std::string());
      if (options_.on_model_loaded) options_.on_model_loaded(*servable);
      ++changed;
      break;
    }
  }
  return changed;
}

absl::StatusOr<std::shared_ptr<const ServableModel>> ModelManager::Get(const std::string& name,
                                                                       int64_t version) const {
  absl::MutexLock lock(&mu_);
  const auto it = served_.find(name);
  if (it == served_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  if (version != 0 && version != it->second->version) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' version ", version,
                                            " not found (loaded: ", it->second->version, ")"));
  }
  return it->second;
}

std::vector<std::shared_ptr<const ServableModel>> ModelManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const ServableModel>> models;
  models.reserve(served_.size());
  for (const auto& entry : served_) models.push_back(entry.second);
  return models;
}

}  // namespace genailab
