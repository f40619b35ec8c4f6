#include "server/core/step_scheduler.h"

#include <atomic>
#include <memory>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "data/status_matchers.h"
#include "server/testing/fake_iterative_model.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Outcome {
  absl::Mutex mu;
  absl::StatusOr<DenseMatrix> result ABSL_GUARDED_BY(mu) = absl::UnknownError("pending");
  bool done ABSL_GUARDED_BY(mu) = false;
  void Set(absl::StatusOr<DenseMatrix> r) {
    absl::MutexLock lock(&mu);
    result = std::move(r);
    done = true;
  }
  absl::StatusOr<DenseMatrix> Wait() {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
    return result;
  }
};

class GenerationTask : public SessionTask {
 public:
  GenerationTask(int64_t n, uint64_t seed, int steps, Outcome* outcome)
      : n_(n), seed_(seed), steps_(steps), outcome_(outcome) {}
  int64_t cells() const override { return n_; }
  void Fail(const absl::Status& status) override { outcome_->Set(status); }
  absl::StatusOr<std::unique_ptr<SamplingSession>> Begin(const GenerativeModel& model) override {
    SamplerOptions sampler;
    sampler.steps = steps_;
    return model.BeginGeneration(n_, {}, seed_, sampler);
  }
  void Finish(absl::StatusOr<DenseMatrix> cells) override { outcome_->Set(std::move(cells)); }

 private:
  const int64_t n_;
  const uint64_t seed_;
  const int steps_;
  Outcome* const outcome_;
};

class StepSchedulerTest : public ::testing::Test {
 protected:
  StepSchedulerTest() : model_(FakeManifest("iter", 1, /*n_genes=*/2)) {}

  std::unique_ptr<StepScheduler> MakeScheduler(int64_t max_active_cells = 100) {
    StepScheduler::Options options;
    options.max_active_cells = max_active_cells;
    options.name = "iter";
    options.now = [this] { return FakeNow(); };
    auto scheduler = StepScheduler::Create(options, &model_);
    EXPECT_THAT(scheduler, IsOk());
    return scheduler.ok() ? std::move(scheduler).value() : nullptr;
  }

  absl::Time FakeNow() {
    absl::MutexLock lock(&clock_mu_);
    return fake_now_;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&clock_mu_);
    fake_now_ += by;
  }

  FakeIterativeModel model_;
  absl::Mutex clock_mu_;
  absl::Time fake_now_ ABSL_GUARDED_BY(clock_mu_) = absl::FromUnixSeconds(1000);
};

TEST_F(StepSchedulerTest, RejectsBadOptions) {
  StepScheduler::Options options;
  options.max_active_cells = 0;
  EXPECT_THAT(StepScheduler::Create(options, &model_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_active_cells")));
  EXPECT_THAT(StepScheduler::Create(StepScheduler::Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model")));
}

TEST_F(StepSchedulerTest, RequestArrivingMidSamplingJoinsAtTheNextStep) {
  absl::Notification in_second_step;
  absl::Notification release;
  model_.set_step_hook([&](int call) {
    if (call == 1) {
      in_second_step.Notify();
      release.WaitForNotification();
    }
  });
  auto scheduler = MakeScheduler();
  ASSERT_NE(scheduler, nullptr);
  Outcome a;
  Outcome b;
  std::unique_ptr<BatchTask> task_a = std::make_unique<GenerationTask>(2, /*seed=*/1, /*steps=*/4, &a);
  ASSERT_THAT(scheduler->Enqueue(task_a), IsOk());
  EXPECT_EQ(task_a, nullptr);
  in_second_step.WaitForNotification();
  // A is mid-sampling (its second step is running): B joins at the third.
  std::unique_ptr<BatchTask> task_b = std::make_unique<GenerationTask>(1, /*seed=*/2, /*steps=*/2, &b);
  ASSERT_THAT(scheduler->Enqueue(task_b), IsOk());
  release.Notify();
  const absl::StatusOr<DenseMatrix> cells_a = a.Wait();
  const absl::StatusOr<DenseMatrix> cells_b = b.Wait();
  ASSERT_THAT(cells_a, IsOk());
  ASSERT_THAT(cells_b, IsOk());
  EXPECT_THAT(model_.step_batches(), ElementsAre(ElementsAre(1u), ElementsAre(1u), ElementsAre(1u, 2u),
                                                 ElementsAre(1u, 2u)));
  // Each request's cells are its own (seed + gene + 1000 * steps), whoever it stepped with.
  EXPECT_EQ(cells_a->rows, 2);
  EXPECT_FLOAT_EQ(cells_a->at(1, 1), 1 + 1 + 4000);
  EXPECT_EQ(cells_b->rows, 1);
  EXPECT_FLOAT_EQ(cells_b->at(0, 0), 2 + 0 + 2000);
}

TEST_F(StepSchedulerTest, CancelledAndExpiredSessionsStopBetweenSteps) {
  std::atomic<bool> cancel{false};
  const absl::Time deadline = FakeNow() + absl::Seconds(10);
  absl::Notification blocker_stepping;
  absl::Notification release;
  model_.set_step_hook([&](int call) {
    if (call == 0) {  // the blocker's step: hold it while the three requests queue up
      blocker_stepping.Notify();
      release.WaitForNotification();
    } else if (call == 1) {  // the three requests' first step: cancel one, let a deadline pass
      cancel = true;
      Advance(absl::Seconds(20));
    }
  });
  auto scheduler = MakeScheduler();
  ASSERT_NE(scheduler, nullptr);
  Outcome blocker;
  Outcome cancelled;
  Outcome expired;
  Outcome survivor;
  std::unique_ptr<BatchTask> task_b = std::make_unique<GenerationTask>(1, 99, 1, &blocker);
  ASSERT_THAT(scheduler->Enqueue(task_b), IsOk());
  blocker_stepping.WaitForNotification();
  std::unique_ptr<BatchTask> task_c = std::make_unique<GenerationTask>(1, 10, 5, &cancelled);
  task_c->is_cancelled = [&cancel] { return cancel.load(); };
  std::unique_ptr<BatchTask> task_e = std::make_unique<GenerationTask>(1, 20, 5, &expired);
  task_e->deadline = deadline;
  std::unique_ptr<BatchTask> task_s = std::make_unique<GenerationTask>(1, 30, 3, &survivor);
  ASSERT_THAT(scheduler->Enqueue(task_c), IsOk());
  ASSERT_THAT(scheduler->Enqueue(task_e), IsOk());
  ASSERT_THAT(scheduler->Enqueue(task_s), IsOk());
  release.Notify();
  EXPECT_THAT(blocker.Wait(), IsOk());
  EXPECT_THAT(cancelled.Wait(), StatusIs(absl::StatusCode::kCancelled, HasSubstr("after 1 of 5 steps")));
  EXPECT_THAT(expired.Wait(),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("between sampler steps (1 of 5 done)")));
  EXPECT_THAT(survivor.Wait(), IsOk());
  // After their first step, the cancelled and expired requests used no compute.
  EXPECT_THAT(model_.step_batches(), ElementsAre(ElementsAre(99u), ElementsAre(10u, 20u, 30u), ElementsAre(30u),
                                                 ElementsAre(30u)));
}

TEST_F(StepSchedulerTest, StopFinishesAcceptedSessionsAndRefusesNewOnes) {
  auto scheduler = MakeScheduler();
  ASSERT_NE(scheduler, nullptr);
  Outcome a;
  std::unique_ptr<BatchTask> task_a = std::make_unique<GenerationTask>(1, 5, 3, &a);
  ASSERT_THAT(scheduler->Enqueue(task_a), IsOk());
  scheduler->Stop();
  EXPECT_THAT(a.Wait(), IsOk());
  Outcome late;
  std::unique_ptr<BatchTask> task_late = std::make_unique<GenerationTask>(1, 6, 3, &late);
  EXPECT_THAT(scheduler->Enqueue(task_late), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  EXPECT_NE(task_late, nullptr);
}

}  // namespace
}  // namespace genailab
