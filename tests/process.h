// Test helpers for running the project's binaries as child processes and talking HTTP on loopback.
#ifndef GENAILAB_TESTS_PROCESS_H_
#define GENAILAB_TESTS_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace genailab::testing {

// Path of a binary of this workspace in the test's runfiles, e.g. "server/genailab-server".
std::string RunfilePath(const std::string& workspace_relative);

// A child process; the destructor kills (SIGKILL) and reaps it if it is still running.
class ChildProcess {
 public:
  // INTERNAL if the process cannot be spawned. stdout/stderr go to `log_path` when non-empty.
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::string& log_path = "");
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  // Sends `signal`, waits up to `timeout` and returns the exit status (as from waitpid);
  // DEADLINE_EXCEEDED if it did not exit in time.
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);
  // Waits for a normal exit and returns the exit code; DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

// Runs argv to completion; returns its exit code. Output goes to `log_path` when non-empty.
absl::StatusOr<int> RunToCompletion(const std::vector<std::string>& argv, const std::string& log_path,
                                    absl::Duration timeout);

// Waits until `path` exists and is non-empty, then returns its contents.
absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout);

// A plain HTTP/1.0 GET of http://127.0.0.1:port/path; returns the body. UNAVAILABLE if it cannot connect.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace genailab::testing

#endif  // GENAILAB_TESTS_PROCESS_H_
