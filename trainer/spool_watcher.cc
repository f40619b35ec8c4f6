#include "trainer/spool_watcher.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "trainer/job_spec.h"
#include "trainer/job_store.h"

namespace genailab {
namespace {

absl::StatusOr<std::string> SubmitFile(const std::filesystem::path& path, const SpoolWatcher::Submit& submit) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  absl::StatusOr<v1::TrainingJobSpec> spec =
      IsYamlFileName(path.filename().string()) ? ParseJobSpecYaml(text.str()) : ParseJobSpecJson(text.str());
  if (!spec.ok()) return spec.status();
  return submit(*spec, absl::StrCat("spool:", path.filename().string()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpoolWatcher>> SpoolWatcher::Start(Options options) {
  if (options.directory.empty()) return absl::InvalidArgumentError("spool directory is required");
  if (!options.submit) return absl::InvalidArgumentError("submit is required");
  if (options.settle_time < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("settle_time: must be >= 0, got ", absl::FormatDuration(options.settle_time)));
  }
  std::error_code error;
  for (const char* sub : {"", "/accepted", "/rejected"}) {
    std::filesystem::create_directories(options.directory + sub, error);
    if (error) {
      return absl::InternalError(absl::StrCat("cannot create spool folder ", options.directory, sub, ": ",
                                              error.message()));
    }
  }
  std::unique_ptr<SpoolWatcher> watcher(new SpoolWatcher(std::move(options)));
  if (watcher->options_.poll_in_background) {
    watcher->thread_ = std::thread([raw = watcher.get()] { raw->Loop(); });
  }
  return watcher;
}

SpoolWatcher::~SpoolWatcher() { Stop(); }

void SpoolWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void SpoolWatcher::Loop() {
  while (true) {
    PollOnce();
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_interval)) return;
  }
}

int SpoolWatcher::PollOnce() {
  absl::MutexLock poll_lock(&poll_mu_);
  std::vector<std::filesystem::path> files;
  std::error_code error;
  const auto now = std::filesystem::file_time_type::clock::now();
  const auto settle = std::chrono::duration_cast<std::filesystem::file_time_type::duration>(
      absl::ToChronoNanoseconds(options_.settle_time));
  for (const auto& entry : std::filesystem::directory_iterator(options_.directory, error)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !IsJobSpecFileName(name) || absl::StartsWith(name, ".")) continue;
    std::error_code time_error;
    const auto modified = entry.last_write_time(time_error);
    // Still being written (or unreadable for now): a later poll takes it.
    if (time_error || now - modified < settle) continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  const std::filesystem::path root(options_.directory);
  for (const std::filesystem::path& file : files) {
    const std::string name = file.filename().string();
    absl::StatusOr<std::string> job_id = SubmitFile(file, options_.submit);
    const std::filesystem::path destination = root / (job_id.ok() ? "accepted" : "rejected") / name;
    const std::string note = job_id.ok() ? *job_id + "\n" : job_id.status().ToString() + "\n";
    const std::string note_path = destination.string() + (job_id.ok() ? ".job" : ".error");
    if (absl::Status written = WriteFileAtomically(note_path, note); !written.ok()) {
      spdlog::error("spool: {}", written.ToString());
    }
    std::filesystem::rename(file, destination, error);
    if (error) spdlog::error("spool: cannot move {}: {}", file.string(), error.message());
    if (job_id.ok()) {
      spdlog::info("spool: {} submitted as {}", name, *job_id);
    } else {
      spdlog::warn("spool: {} rejected: {}", name, job_id.status().ToString());
    }
  }
  return static_cast<int>(files.size());
}

}  // namespace genailab
