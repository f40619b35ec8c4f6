#include "trainer/job_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace genailab {
namespace {

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  const int result = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (result != 0) return absl::InternalError(absl::StrCat("cannot fsync ", path, ": ", std::strerror(saved)));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (absl::Status synced = FsyncPath(temporary, O_RDONLY); !synced.ok()) return synced;
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path, ": ", std::strerror(errno)));
  }
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return FsyncPath(parent.empty() ? "." : parent, O_RDONLY | O_DIRECTORY);
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Create(const std::string& directory) {
  if (directory.empty()) return absl::InvalidArgumentError("job store directory is required");
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create job store directory ", directory, ": ", error.message()));
  }
  return std::unique_ptr<JobStore>(new JobStore(directory));
}

absl::StatusOr<std::vector<v1::Job>> JobStore::LoadAll() const {
  std::vector<v1::Job> jobs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory_, error)) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || !absl::EndsWith(path, ".json")) continue;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
    v1::Job job;
    const auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &job);
    if (!parsed.ok()) {
      return absl::DataLossError(absl::StrCat("job file ", path, " does not parse: ", parsed.message().as_string()));
    }
    jobs.push_back(std::move(job));
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", directory_, ": ", error.message()));
  std::sort(jobs.begin(), jobs.end(), [](const v1::Job& a, const v1::Job& b) { return a.id() < b.id(); });
  return jobs;
}

absl::Status JobStore::Save(const v1::Job& job) const {
  if (job.id().empty() || absl::StrContains(job.id(), '/') || job.id()[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("job id '", job.id(), "' is not a plain file name"));
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  const auto printed = google::protobuf::util::MessageToJsonString(job, &json, options);
  if (!printed.ok()) return absl::InternalError(absl::StrCat("cannot serialize job ", job.id()));
  return WriteFileAtomically(absl::StrCat(directory_, "/", job.id(), ".json"), json);
}

}  // namespace genailab
