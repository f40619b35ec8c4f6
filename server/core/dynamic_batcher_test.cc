#include "server/core/dynamic_batcher.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A task that only records how it ended.
struct Outcome {
  absl::Mutex mu;
  absl::Status status ABSL_GUARDED_BY(mu) = absl::UnknownError("pending");
  bool done ABSL_GUARDED_BY(mu) = false;
  void Set(absl::Status s) {
    absl::MutexLock lock(&mu);
    status = std::move(s);
    done = true;
  }
  absl::Status Wait() {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
    return status;
  }
};

class FakeTask : public BatchTask {
 public:
  FakeTask(int id, int64_t cells, std::string key, Outcome* outcome)
      : id_(id), cells_(cells), key_(std::move(key)), outcome_(outcome) {}
  int64_t cells() const override { return cells_; }
  std::string batch_key() const override { return key_; }
  void Fail(const absl::Status& status) override { outcome_->Set(status); }
  void Finish() { outcome_->Set(absl::OkStatus()); }
  int id() const { return id_; }

 private:
  const int id_;
  const int64_t cells_;
  const std::string key_;
  Outcome* const outcome_;
};

// A runner that records batches (as task ids) and can hold the first batch until released.
class FakeRunner {
 public:
  DynamicBatcher::Runner AsRunner() {
    return [this](std::vector<std::unique_ptr<BatchTask>>& batch) {
      std::vector<int> ids;
      for (auto& task : batch) ids.push_back(static_cast<FakeTask&>(*task).id());
      {
        absl::MutexLock lock(&mu_);
        batches_.push_back(ids);
      }
      if (!started_.HasBeenNotified()) {
        started_.Notify();
        if (hold_first_) release_.WaitForNotification();
      }
      for (auto& task : batch) static_cast<FakeTask&>(*task).Finish();
    };
  }
  std::vector<std::vector<int>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  bool hold_first_ = true;
  absl::Notification started_;
  absl::Notification release_;

 private:
  absl::Mutex mu_;
  std::vector<std::vector<int>> batches_ ABSL_GUARDED_BY(mu_);
};

DynamicBatcher::Options TestOptions() {
  DynamicBatcher::Options options;
  options.max_batch_cells = 6;
  options.max_queue_delay = absl::ZeroDuration();
  options.max_queue_tasks = 8;
  options.name = "m";
  return options;
}

std::unique_ptr<BatchTask> Task(int id, int64_t cells, const std::string& key, Outcome* outcome) {
  return std::make_unique<FakeTask>(id, cells, key, outcome);
}

TEST(DynamicBatcherTest, RejectsBadOptions) {
  DynamicBatcher::Options options = TestOptions();
  options.max_batch_cells = 0;
  FakeRunner runner;
  EXPECT_THAT(DynamicBatcher::Create(options, runner.AsRunner()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_batch_cells")));
  options = TestOptions();
  options.max_queue_tasks = -1;
  EXPECT_THAT(DynamicBatcher::Create(options, runner.AsRunner()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_queue_tasks")));
  EXPECT_THAT(DynamicBatcher::Create(TestOptions(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runner")));
}

TEST(DynamicBatcherTest, MergesSameKeyTasksUpToMaxBatchCellsInQueueOrder) {
  FakeRunner runner;
  auto batcher = DynamicBatcher::Create(TestOptions(), runner.AsRunner());
  ASSERT_THAT(batcher, IsOk());
  std::vector<Outcome> outcomes(6);
  auto first = Task(0, 1, "a", &outcomes[0]);
  ASSERT_THAT((*batcher)->Enqueue(first), IsOk());
  EXPECT_EQ(first, nullptr);  // the batcher owns it now
  runner.started_.WaitForNotification();
  // While batch [0] runs: a=3, b=2, a=3, a=3, and a task larger than a whole batch.
  const std::vector<std::pair<int64_t, std::string>> tasks = {{3, "a"}, {2, "b"}, {3, "a"}, {3, "a"}, {9, "b"}};
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto task = Task(static_cast<int>(i + 1), tasks[i].first, tasks[i].second, &outcomes[i + 1]);
    ASSERT_THAT((*batcher)->Enqueue(task), IsOk());
  }
  EXPECT_EQ((*batcher)->pending(), 6);
  runner.release_.Notify();
  for (Outcome& outcome : outcomes) EXPECT_THAT(outcome.Wait(), IsOk());
  EXPECT_THAT(runner.batches(), ElementsAre(ElementsAre(0), ElementsAre(1, 3), ElementsAre(2), ElementsAre(4),
                                            ElementsAre(5)));
  (*batcher)->Stop();
  EXPECT_EQ((*batcher)->pending(), 0);
}

TEST(DynamicBatcherTest, FullQueueAnswersResourceExhaustedWithRetryHintAndCallerKeepsTask) {
  FakeRunner runner;
  DynamicBatcher::Options options = TestOptions();
  options.max_queue_tasks = 2;
  auto batcher = DynamicBatcher::Create(options, runner.AsRunner());
  ASSERT_THAT(batcher, IsOk());
  std::vector<Outcome> outcomes(4);
  auto running = Task(0, 1, "a", &outcomes[0]);
  ASSERT_THAT((*batcher)->Enqueue(running), IsOk());
  runner.started_.WaitForNotification();
  for (int i = 1; i <= 2; ++i) {
    auto task = Task(i, 1, "a", &outcomes[i]);
    ASSERT_THAT((*batcher)->Enqueue(task), IsOk());
  }
  auto refused = Task(3, 1, "a", &outcomes[3]);
  const absl::Status status = (*batcher)->Enqueue(refused);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("queue of model 'm' is full")));
  EXPECT_THAT(std::string(status.message()), HasSubstr("retry after"));
  EXPECT_GE(RetryAfter(status), absl::Milliseconds(1));
  ASSERT_NE(refused, nullptr);  // the caller keeps a refused task
  EXPECT_EQ(static_cast<FakeTask&>(*refused).id(), 3);
  runner.release_.Notify();
  for (int i = 0; i <= 2; ++i) EXPECT_THAT(outcomes[i].Wait(), IsOk());
  // Room again: the refused task is accepted on retry.
  ASSERT_THAT((*batcher)->Enqueue(refused), IsOk());
  EXPECT_THAT(outcomes[3].Wait(), IsOk());
}

TEST(DynamicBatcherTest, ExpiredAndCancelledTasksNeverRun) {
  FakeRunner runner;
  auto batcher = DynamicBatcher::Create(TestOptions(), runner.AsRunner());
  ASSERT_THAT(batcher, IsOk());
  std::vector<Outcome> outcomes(4);
  auto running = Task(0, 1, "a", &outcomes[0]);
  ASSERT_THAT((*batcher)->Enqueue(running), IsOk());
  runner.started_.WaitForNotification();
  auto expired = Task(1, 1, "a", &outcomes[1]);
  expired->deadline = absl::Now();
  auto cancelled = Task(2, 1, "a", &outcomes[2]);
  cancelled->is_cancelled = [] { return true; };
  auto alive = Task(3, 1, "a", &outcomes[3]);
  alive->deadline = absl::InfiniteFuture();
  alive->is_cancelled = [] { return false; };
  ASSERT_THAT((*batcher)->Enqueue(expired), IsOk());
  ASSERT_THAT((*batcher)->Enqueue(cancelled), IsOk());
  ASSERT_THAT((*batcher)->Enqueue(alive), IsOk());
  runner.release_.Notify();
  EXPECT_THAT(outcomes[1].Wait(), StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("in the queue of model 'm'")));
  EXPECT_THAT(outcomes[2].Wait(), StatusIs(absl::StatusCode::kCancelled, HasSubstr("cancelled")));
  EXPECT_THAT(outcomes[3].Wait(), IsOk());
  EXPECT_THAT(runner.batches(), ElementsAre(ElementsAre(0), ElementsAre(3)));
}

TEST(DynamicBatcherTest, StopFinishesAcceptedTasksAndRefusesNewOnes) {
  FakeRunner runner;
  DynamicBatcher::Options options = TestOptions();
  options.max_queue_tasks = 1 << 20;
  auto batcher = DynamicBatcher::Create(options, runner.AsRunner());
  ASSERT_THAT(batcher, IsOk());
  std::vector<Outcome> outcomes(2);
  auto running = Task(0, 1, "a", &outcomes[0]);
  ASSERT_THAT((*batcher)->Enqueue(running), IsOk());
  runner.started_.WaitForNotification();
  auto queued = Task(1, 1, "a", &outcomes[1]);
  ASSERT_THAT((*batcher)->Enqueue(queued), IsOk());
  absl::Notification stopped;
  std::thread stopper([&] {
    (*batcher)->Stop();
    stopped.Notify();
  });
  // Stop() waits for the held batch; meanwhile new work is refused (tasks accepted before Stop()
  // began still run).
  std::vector<std::unique_ptr<Outcome>> late_outcomes;
  absl::Status refused;
  for (int id = 2;; ++id) {
    late_outcomes.push_back(std::make_unique<Outcome>());
    auto late = Task(id, 1, "a", late_outcomes.back().get());
    refused = (*batcher)->Enqueue(late);
    if (!refused.ok()) break;
  }
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  EXPECT_FALSE(stopped.HasBeenNotified());
  runner.release_.Notify();
  stopper.join();
  EXPECT_THAT(outcomes[0].Wait(), IsOk());
  EXPECT_THAT(outcomes[1].Wait(), IsOk());
  late_outcomes.pop_back();  // the refused one
  for (auto& outcome : late_outcomes) EXPECT_THAT(outcome->Wait(), IsOk());
}

}  // namespace
}  // namespace genailab
