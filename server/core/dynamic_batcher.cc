#include "server/core/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(Options options, Runner runner) {
  if (options.max_batch_cells <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_cells must be positive, got ", options.max_batch_cells));
  }
  if (options.max_queue_tasks <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_tasks must be positive, got ", options.max_queue_tasks));
  }
  if (options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_queue_delay must not be negative");
  }
  if (!runner) return absl::InvalidArgumentError("DynamicBatcher needs a runner");
  return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(std::move(options), std::move(runner)));
}

DynamicBatcher::DynamicBatcher(Options options, Runner runner)
    : options_(std::move(options)), runner_(std::move(runner)) {
  worker_ = std::thread([this] { Loop(); });
}

DynamicBatcher::~DynamicBatcher() { Stop(); }

void DynamicBatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<BatchTask>& task) {
  if (task == nullptr) return absl::InvalidArgumentError("Enqueue: null task");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError(absl::StrCat("model '", options_.name, "' is shutting down"));
    }
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue_tasks) {
      // Time to work through the queue at the recent pace, at least one queue delay.
      const int64_t batches_ahead = 1 + static_cast<int64_t>(queue_.size()) * 16 /
                                            std::max<int64_t>(tasks_per_batch_x16_, 16);
      const absl::Duration retry_after = std::max(
          {batch_time_ * batches_ahead, options_.max_queue_delay, absl::Milliseconds(1)});
      return WithRetryAfter(
          absl::ResourceExhaustedError(absl::StrCat(
              "the queue of model '", options_.name, "' is full (", queue_.size(),
              " requests waiting, max_queue_tasks = ", options_.max_queue_tasks, "); retry after ",
              absl::ToInt64Milliseconds(retry_after), " ms")),
          retry_after);
    }
    task->enqueued_at = absl::Now();
    queued_cells_ += task->cells();
    queue_.push_back(std::move(task));
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  AddPending(1);
  return absl::OkStatus();
}

int64_t DynamicBatcher::pending() const { return pending_.load(std::memory_order_relaxed); }

void DynamicBatcher::AddPending(int64_t delta) {
  if (options_.metrics != nullptr) options_.metrics->AddPendingRequests(options_.name, delta);
}

absl::Status DynamicBatcher::WhyNotRun(const BatchTask& task, absl::Time now, bool check_cancelled) const {
  if (task.deadline <= now) {
    return absl::DeadlineExceededError(absl::StrCat("deadline expired after ",
                                                    absl::FormatDuration(now - task.enqueued_at),
                                                    " in the queue of model '", options_.name, "'"));
  }
  if (check_cancelled && task.is_cancelled && task.is_cancelled()) {
    return absl::CancelledError("request cancelled while queued");
  }
  return absl::OkStatus();
}

void DynamicBatcher::DropDeadTasks(
    absl::Time now, std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>>* dropped) {
  // Deadlines only: a comparison per task. Cancellation probes (which take the call's own lock) run
  // outside mu_, on the tasks of the batch being formed (Loop).
  for (auto it = queue_.begin(); it != queue_.end();) {
    absl::Status why = WhyNotRun(**it, now, /*check_cancelled=*/false);
    if (why.ok()) {
      ++it;
      continue;
    }
    queued_cells_ -= (*it)->cells();
    dropped->emplace_back(std::move(*it), std::move(why));
    it = queue_.erase(it);
  }
}

std::vector<std::unique_ptr<BatchTask>> DynamicBatcher::NextBatch(
    std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>>* dropped) {
  absl::MutexLock lock(&mu_);
  const auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
  mu_.Await(absl::Condition(&has_work));
  DropDeadTasks(absl::Now(), dropped);
  if (queue_.empty()) return {};
  // Wait for companions until the head has waited max_queue_delay or a batch's worth is queued.
  const absl::Time flush_at = queue_.front()->enqueued_at + options_.max_queue_delay;
  const auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || queued_cells_ >= options_.max_batch_cells;
  };
  if (absl::Now() < flush_at) mu_.AwaitWithDeadline(absl::Condition(&full), flush_at);
  DropDeadTasks(absl::Now(), dropped);
  if (queue_.empty()) return {};

  std::vector<std::unique_ptr<BatchTask>> batch;
  const std::string key = queue_.front()->batch_key();
  int64_t cells = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    const int64_t task_cells = (*it)->cells();
    if ((*it)->batch_key() != key || (!batch.empty() && cells + task_cells > options_.max_batch_cells)) {
      ++it;
      continue;
    }
    cells += task_cells;
    queued_cells_ -= task_cells;
    batch.push_back(std::move(*it));
    it = queue_.erase(it);
    if (cells >= options_.max_batch_cells) break;
  }
  // Queued tasks that expire while this batch runs are failed when the next batch is formed; the
  // deadline check above is the cheap part, so it stays under the lock. Cancellation is probed by the
  // caller, outside the lock.
  return batch;
}

void DynamicBatcher::Loop() {
  while (true) {
    std::vector<std::pair<std::unique_ptr<BatchTask>, absl::Status>> dropped;
    std::vector<std::unique_ptr<BatchTask>> batch = NextBatch(&dropped);
    // Cancelled tasks never run: probe the batch's tasks now, outside the lock.
    if (!batch.empty()) {
      const absl::Time now = absl::Now();
      std::vector<std::unique_ptr<BatchTask>> live;
      live.reserve(batch.size());
      for (auto& task : batch) {
        absl::Status why = WhyNotRun(*task, now, /*check_cancelled=*/true);
        if (why.ok()) {
          live.push_back(std::move(task));
        } else {
          dropped.emplace_back(std::move(task), std::move(why));
        }
      }
      batch = std::move(live);
    }
    for (auto& entry : dropped) entry.first->Fail(entry.second);
    AddPending(-static_cast<int64_t>(dropped.size()));
    pending_.fetch_sub(static_cast<int64_t>(dropped.size()), std::memory_order_relaxed);
    if (batch.empty()) {
      absl::MutexLock lock(&mu_);
      if (stopping_ && queue_.empty()) return;
      continue;
    }
    const absl::Time start = absl::Now();
    int64_t cells = 0;
    for (const auto& task : batch) {
      cells += task->cells();
      if (options_.metrics != nullptr) options_.metrics->RecordQueueTime(options_.name, start - task->enqueued_at);
    }
    const int64_t tasks = static_cast<int64_t>(batch.size());
    runner_(batch);
    const absl::Duration elapsed = absl::Now() - start;
    if (options_.metrics != nullptr) options_.metrics->RecordBatch(options_.name, cells, elapsed);
    AddPending(-tasks);
    pending_.fetch_sub(tasks, std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    batch_time_ = batch_time_ == absl::ZeroDuration() ? elapsed : (batch_time_ * 7 + elapsed) / 8;
    tasks_per_batch_x16_ = (tasks_per_batch_x16_ * 7 + tasks * 16) / 8;
  }
}

}  // namespace genailab
