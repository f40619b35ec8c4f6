// Overload and recovery of DynamicBatcher, through its public interface with a fake runner (no model, no
// Torch): requests arrive much faster than they are served. The bounded queue refuses the surplus at
// once with RESOURCE_EXHAUSTED and a retry hint, every accepted request completes exactly once, and
// when the flood stops the queue drains and new requests are served normally.
//
// The runner is held closed by a valve while the flood arrives, so "faster than served" is exact and
// the test asserts counts, never timings; deadlines below are only safety nets against a hang.
#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "data/status_matchers.h"
#include "server/core/dynamic_batcher.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kSafetyNet = absl::Seconds(60);

// How one task ended: how many times it was completed, and the last status.
class Outcome {
 public:
  void Complete(absl::Status status) {
    absl::MutexLock lock(&mu_);
    ++completions_;
    status_ = std::move(status);
  }
  // The status once completed; DEADLINE_EXCEEDED("never completed") if the safety net runs out first.
  absl::Status Await() {
    absl::MutexLock lock(&mu_);
    const auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completions_ > 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), kSafetyNet)) {
      return absl::DeadlineExceededError("never completed");
    }
    return status_;
  }
  int completions() const {
    absl::MutexLock lock(&mu_);
    return completions_;
  }

 private:
  mutable absl::Mutex mu_;
  int completions_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class OneCellTask : public BatchTask {
 public:
  explicit OneCellTask(Outcome* outcome) : outcome_(outcome) {}
  int64_t cells() const override { return 1; }
  std::string batch_key() const override { return "encode"; }
  void Fail(const absl::Status& status) override { outcome_->Complete(status); }
  void Run() { outcome_->Complete(absl::OkStatus()); }

 private:
  Outcome* const outcome_;
};

// Holds every batch until opened; counts the batches that entered.
class Valve {
 public:
  DynamicBatcher::Runner Runner() {
    return [this](std::vector<std::unique_ptr<BatchTask>>& batch) {
      {
        absl::MutexLock lock(&mu_);
        ++entered_;
        const auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_; };
        mu_.AwaitWithTimeout(absl::Condition(&open), kSafetyNet);
      }
      for (auto& task : batch) static_cast<OneCellTask&>(*task).Run();
    };
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  // True once `batches` batches have entered the runner (false if the safety net ran out).
  bool AwaitEntered(int batches) {
    absl::MutexLock lock(&mu_);
    const auto entered = [this, batches]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= batches; };
    return mu_.AwaitWithTimeout(absl::Condition(&entered), kSafetyNet);
  }
  int entered() const {
    absl::MutexLock lock(&mu_);
    return entered_;
  }

 private:
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

// True once the batcher has nothing queued or running (false if the safety net ran out).
bool AwaitIdle(const DynamicBatcher& batcher) {
  const absl::Time give_up = absl::Now() + kSafetyNet;
  while (batcher.pending() > 0) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class OverloadRecoveryTest : public ::testing::Test {
 protected:
  static constexpr int kQueue = 8;

  void SetUp() override {
    DynamicBatcher::Options options;
    options.name = "flooded";
    options.max_queue_tasks = kQueue;
    options.max_batch_cells = 3;  // the drain takes several batches
    auto batcher = DynamicBatcher::Create(options, valve_.Runner());
    ASSERT_THAT(batcher, IsOk());
    batcher_ = std::move(batcher).value();
  }

  // Enqueues a task of `outcome`; returns the status and checks the ownership rule.
  absl::Status Submit(Outcome* outcome, absl::Time deadline = absl::InfiniteFuture(),
                      std::function<bool()> is_cancelled = nullptr) {
    std::unique_ptr<BatchTask> task = std::make_unique<OneCellTask>(outcome);
    task->deadline = deadline;
    task->is_cancelled = std::move(is_cancelled);
    const absl::Status status = batcher_->Enqueue(task);
    EXPECT_EQ(status.ok(), task == nullptr) << "on OK the batcher owns the task, on error the caller does";
    return status;
  }

  // The worker is held inside a batch of one task, so the queue itself is empty and nothing drains.
  void HoldTheWorker(Outcome* outcome) {
    ASSERT_THAT(Submit(outcome), IsOk());
    ASSERT_TRUE(valve_.AwaitEntered(1));
  }

  Valve valve_;
  std::unique_ptr<DynamicBatcher> batcher_;
};

TEST_F(OverloadRecoveryTest, FloodIsRefusedAtOnceAcceptedRequestsCompleteAndServiceResumes) {
  Outcome running;
  ASSERT_NO_FATAL_FAILURE(HoldTheWorker(&running));

  // Two accepted tasks that must not run: one already expired, one whose caller went away.
  Outcome expired;
  Outcome cancelled;
  ASSERT_THAT(Submit(&expired, absl::Now() - absl::Seconds(1)), IsOk());
  ASSERT_THAT(Submit(&cancelled, absl::InfiniteFuture(), [] { return true; }), IsOk());

  // The flood: 4 clients x 100 requests while one batch is running.
  constexpr int kClients = 4;
  constexpr int kPerClient = 100;
  std::vector<Outcome> outcomes(kClients * kPerClient);
  std::vector<absl::Status> statuses(outcomes.size());
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c * kPerClient; i < (c + 1) * kPerClient; ++i) statuses[i] = Submit(&outcomes[i]);
    });
  }
  for (std::thread& client : clients) client.join();

  int accepted = 0;
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].ok()) {
      ++accepted;
      continue;
    }
    EXPECT_THAT(statuses[i], StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("retry after")));
    EXPECT_THAT(statuses[i].message(), HasSubstr("model 'flooded'"));
    EXPECT_GE(RetryAfter(statuses[i]), absl::Milliseconds(1)) << "request " << i << " has no retry hint";
  }
  // Exactly the free queue slots were taken; everything else was refused without waiting.
  EXPECT_EQ(accepted, kQueue - 2);
  EXPECT_EQ(batcher_->pending(), kQueue + 1);

  // The flood stops; the worker is released and the queue drains.
  valve_.Open();
  EXPECT_THAT(running.Await(), IsOk());
  EXPECT_THAT(expired.Await(), StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_THAT(cancelled.Await(), StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (!statuses[i].ok()) continue;
    EXPECT_THAT(outcomes[i].Await(), IsOk()) << "accepted request " << i;
  }
  ASSERT_TRUE(AwaitIdle(*batcher_));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].completions(), statuses[i].ok() ? 1 : 0) << "request " << i;
  }
  EXPECT_EQ(running.completions() + expired.completions() + cancelled.completions(), 3);

  // Service resumes: a full queue's worth, three times over, is accepted and served.
  for (int round = 0; round < 3; ++round) {
    std::vector<Outcome> after(kQueue);
    for (Outcome& outcome : after) ASSERT_THAT(Submit(&outcome), IsOk()) << "round " << round;
    for (Outcome& outcome : after) EXPECT_THAT(outcome.Await(), IsOk()) << "round " << round;
  }
  EXPECT_TRUE(AwaitIdle(*batcher_));
}

TEST_F(OverloadRecoveryTest, ClientsThatRetryAfterTheHintAreAllServedEventually) {
  Outcome running;
  ASSERT_NO_FATAL_FAILURE(HoldTheWorker(&running));
  // 8 clients x 20 requests against a queue of 8: most first attempts are refused. Each client retries
  // a refused request after the hint it carries; the valve opens once every client has been refused at
  // least once, so the retries meet a draining queue.
  constexpr int kClients = 8;
  constexpr int kPerClient = 20;
  std::vector<Outcome> outcomes(kClients * kPerClient);
  std::atomic<int> refused_clients{0};
  std::atomic<int> refusals{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      bool refused_once = false;
      for (int i = c * kPerClient; i < (c + 1) * kPerClient; ++i) {
        for (int attempt = 0;; ++attempt) {
          const absl::Status status = Submit(&outcomes[i]);
          if (status.ok()) break;
          ASSERT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
          ASSERT_LT(attempt, 100000) << "request " << i << " never accepted";
          ++refusals;
          if (!refused_once) {
            refused_once = true;
            ++refused_clients;
          }
          absl::SleepFor(std::min(RetryAfter(status), absl::Milliseconds(5)));
        }
      }
    });
  }
  const absl::Time give_up = absl::Now() + kSafetyNet;
  while (refused_clients.load() < kClients && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(refused_clients.load(), kClients);
  valve_.Open();
  for (std::thread& client : clients) client.join();

  EXPECT_THAT(running.Await(), IsOk());
  for (size_t i = 0; i < outcomes.size(); ++i) EXPECT_THAT(outcomes[i].Await(), IsOk()) << "request " << i;
  ASSERT_TRUE(AwaitIdle(*batcher_));
  for (size_t i = 0; i < outcomes.size(); ++i) EXPECT_EQ(outcomes[i].completions(), 1) << "request " << i;
  EXPECT_GE(refusals.load(), kClients);
  EXPECT_GE(valve_.entered(), 1 + kClients * kPerClient / 3);  // at most 3 one-cell tasks per batch
}

TEST_F(OverloadRecoveryTest, StoppingAFullQueueRunsWhatItAcceptedAndRefusesTheRest) {
  Outcome running;
  ASSERT_NO_FATAL_FAILURE(HoldTheWorker(&running));
  std::vector<Outcome> queued(kQueue);
  for (Outcome& outcome : queued) ASSERT_THAT(Submit(&outcome), IsOk());
  Outcome surplus;
  EXPECT_THAT(Submit(&surplus), StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));

  std::thread stopper([this] { batcher_->Stop(); });
  // Once Stop() has begun, new work is refused as UNAVAILABLE (not RESOURCE_EXHAUSTED: retrying here
  // will not help).
  absl::Status refused;
  const absl::Time give_up = absl::Now() + kSafetyNet;
  do {
    Outcome late;
    refused = Submit(&late);
    ASSERT_FALSE(refused.ok());
    if (refused.code() != absl::StatusCode::kUnavailable) absl::SleepFor(absl::Milliseconds(1));
  } while (refused.code() != absl::StatusCode::kUnavailable && absl::Now() < give_up);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  valve_.Open();
  stopper.join();
  EXPECT_THAT(running.Await(), IsOk());
  for (Outcome& outcome : queued) EXPECT_THAT(outcome.Await(), IsOk());
  EXPECT_EQ(surplus.completions(), 0);
  EXPECT_EQ(batcher_->pending(), 0);
}

}  // namespace
}  // namespace genailab
