#include "bench/serving/process_cpu.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace genailab {

absl::StatusOr<double> ParseStatCpuSeconds(const std::string& stat_line, double ticks_per_second) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ')'.
  const size_t close = stat_line.rfind(')');
  if (close == std::string::npos) return absl::InternalError(absl::StrCat("stat line without '(comm)': ", stat_line));
  const std::vector<std::string> fields =
      absl::StrSplit(stat_line.substr(close + 1), ' ', absl::SkipEmpty());
  // After comm: state is field 3 of proc(5), utime 14 and stime 15, so indices 11 and 12 here.
  uint64_t user = 0;
  uint64_t system = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &user) || !absl::SimpleAtoi(fields[12], &system)) {
    return absl::InternalError(absl::StrCat("stat line without utime/stime: ", stat_line));
  }
  return static_cast<double>(user + system) / ticks_per_second;
}

absl::StatusOr<double> ProcessCpuSeconds(int pid) {
  const std::string path = pid == 0 ? "/proc/self/stat" : absl::StrCat("/proc/", pid, "/stat");
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return ParseStatCpuSeconds(line, static_cast<double>(sysconf(_SC_CLK_TCK)));
}

std::unique_ptr<CpuWindow> CpuWindow::Create(std::vector<int> pids, Clock::time_point start,
                                             Clock::time_point end) {
  std::unique_ptr<CpuWindow> window(new CpuWindow());
  window->pids_ = std::move(pids);
  CpuWindow* self = window.get();
  window->sampler_ = std::thread([self, start, end] {
    auto sample = [self](std::vector<absl::StatusOr<double>>* out) {
      for (int pid : self->pids_) out->push_back(ProcessCpuSeconds(pid));
    };
    std::this_thread::sleep_until(start);
    sample(&self->at_start_);
    std::this_thread::sleep_until(end);
    sample(&self->at_end_);
  });
  return window;
}

CpuWindow::~CpuWindow() {
  if (sampler_.joinable()) sampler_.join();
}

std::vector<absl::StatusOr<double>> CpuWindow::Finish() {
  if (sampler_.joinable()) sampler_.join();
  std::vector<absl::StatusOr<double>> used;
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (!at_start_[i].ok()) {
      used.push_back(at_start_[i].status());
    } else if (!at_end_[i].ok()) {
      used.push_back(at_end_[i].status());
    } else {
      used.push_back(*at_end_[i] - *at_start_[i]);
    }
  }
  return used;
}

}  // namespace genailab
