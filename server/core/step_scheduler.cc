#include "server/core/step_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace genailab {

absl::StatusOr<std::unique_ptr<StepScheduler>> StepScheduler::Create(Options options,
                                                                     const GenerativeModel* model) {
  if (options.max_active_cells <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_active_cells must be positive, got ", options.max_active_cells));
  }
  if (options.max_queue_tasks <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_tasks must be positive, got ", options.max_queue_tasks));
  }
  if (model == nullptr) return absl::InvalidArgumentError("StepScheduler needs a model");
  return std::unique_ptr<StepScheduler>(new StepScheduler(std::move(options), model));
}

StepScheduler::StepScheduler(Options options, const GenerativeModel* model)
    : options_(std::move(options)), model_(model) {
  worker_ = std::thread([this] { Loop(); });
}

StepScheduler::~StepScheduler() { Stop(); }

void StepScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

absl::Status StepScheduler::Enqueue(std::unique_ptr<BatchTask>& task) {
  auto* session_task = dynamic_cast<SessionTask*>(task.get());
  if (session_task == nullptr) return absl::InvalidArgumentError("StepScheduler takes SessionTasks only");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError(absl::StrCat("model '", options_.name, "' is shutting down"));
    }
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue_tasks) {
      const absl::Duration retry_after = std::max(step_time_ * 10, absl::Milliseconds(1));
      return WithRetryAfter(
          absl::ResourceExhaustedError(absl::StrCat(
              "the sampling queue of model '", options_.name, "' is full (", queue_.size(),
              " requests waiting, max_queue_tasks = ", options_.max_queue_tasks, "); retry after ",
              absl::ToInt64Milliseconds(retry_after), " ms")),
          retry_after);
    }
    task.release();
    session_task->enqueued_at = Now();
    queue_.emplace_back(session_task);
  }
  if (options_.metrics != nullptr) options_.metrics->AddPendingRequests(options_.name, 1);
  return absl::OkStatus();
}

int64_t StepScheduler::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size()) + active_count_;
}

bool StepScheduler::Admit(std::vector<std::unique_ptr<SessionTask>>* admitted,
                          std::vector<std::pair<std::unique_ptr<SessionTask>, absl::Status>>* dropped) {
  absl::MutexLock lock(&mu_);
  const auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty() || active_count_ > 0;
  };
  mu_.Await(absl::Condition(&has_work));
  if (stopping_ && queue_.empty() && active_count_ == 0) return false;
  const absl::Time now = Now();
  int64_t cells = active_cells_;
  while (!queue_.empty()) {
    SessionTask& task = *queue_.front();
    absl::Status why;
    if (task.deadline <= now) {
      why = absl::DeadlineExceededError(absl::StrCat("deadline expired after ",
                                                     absl::FormatDuration(now - task.enqueued_at),
                                                     " in the sampling queue of model '", options_.name, "'"));
    } else if (task.is_cancelled && task.is_cancelled()) {
      why = absl::CancelledError("request cancelled while queued");
    }
    if (!why.ok()) {
      dropped->emplace_back(std::move(queue_.front()), std::move(why));
      queue_.pop_front();
      continue;
    }
    const bool idle = cells == 0 && admitted->empty();
    if (!idle && cells + task.cells() > options_.max_active_cells) break;
    cells += task.cells();
    if (options_.metrics != nullptr) options_.metrics->RecordQueueTime(options_.name, now - task.enqueued_at);
    admitted->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

void StepScheduler::Complete(Active& active, absl::StatusOr<DenseMatrix> cells) {
  if (cells.ok()) {
    active.task->Finish(std::move(cells));
  } else {
    active.task->Fail(cells.status());
  }
  active.task.reset();
  active.session.reset();
}

void StepScheduler::DropDeadSessions() {
  const absl::Time now = Now();
  for (Active& active : active_) {
    const SessionTask& task = *active.task;
    if (task.deadline <= now) {
      Complete(active, absl::DeadlineExceededError(absl::StrCat(
                           "deadline expired between sampler steps (", active.session->steps_done(), " of ",
                           active.session->steps_total(), " done) on model '", options_.name, "'")));
    } else if (task.is_cancelled && task.is_cancelled()) {
      Complete(active, absl::CancelledError(absl::StrCat("request cancelled after ", active.session->steps_done(),
                                                         " of ", active.session->steps_total(), " steps")));
    }
  }
}

void StepScheduler::Loop() {
  while (true) {
    std::vector<std::unique_ptr<SessionTask>> admitted;
    std::vector<std::pair<std::unique_ptr<SessionTask>, absl::Status>> dropped;
    if (!Admit(&admitted, &dropped)) return;
    int64_t finished = static_cast<int64_t>(dropped.size());
    for (auto& entry : dropped) entry.first->Fail(entry.second);
    for (auto& task : admitted) {
      absl::StatusOr<std::unique_ptr<SamplingSession>> session = task->Begin(*model_);
      if (!session.ok()) {
        task->Fail(session.status());
        ++finished;
        continue;
      }
      active_.push_back(Active{std::move(task), std::move(session).value()});
    }
    DropDeadSessions();

    std::vector<SamplingSession*> sessions;
    int64_t cells = 0;
    for (const Active& active : active_) {
      if (active.task == nullptr || active.session->done()) continue;
      sessions.push_back(active.session.get());
      cells += active.session->rows();
    }
    if (!sessions.empty()) {
      const absl::Time start = absl::Now();
      const absl::Status stepped = model_->StepSessions(sessions);
      const absl::Duration elapsed = absl::Now() - start;
      if (options_.metrics != nullptr) options_.metrics->RecordBatch(options_.name, cells, elapsed);
      {
        absl::MutexLock lock(&mu_);
        step_time_ = step_time_ == absl::ZeroDuration() ? elapsed : (step_time_ * 7 + elapsed) / 8;
      }
      if (!stepped.ok()) {
        for (Active& active : active_) {
          if (active.task != nullptr) Complete(active, stepped);
        }
      }
    }
    for (Active& active : active_) {
      if (active.task != nullptr && active.session->done()) {
        Complete(active, model_->FinishSession(active.session.get()));
      }
    }
    const auto gone = std::remove_if(active_.begin(), active_.end(),
                                     [](const Active& active) { return active.task == nullptr; });
    finished += static_cast<int64_t>(active_.end() - gone);
    active_.erase(gone, active_.end());
    int64_t active_cells = 0;
    for (const Active& active : active_) active_cells += active.session->rows();
    {
      absl::MutexLock lock(&mu_);
      active_cells_ = active_cells;
      active_count_ = static_cast<int64_t>(active_.size());
    }
    if (options_.metrics != nullptr && finished > 0) options_.metrics->AddPendingRequests(options_.name, -finished);
  }
}

}  // namespace genailab
