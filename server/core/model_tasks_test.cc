#include "server/core/model_tasks.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "data/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/fake_generative_model.h"

namespace genailab {
namespace {

using ::testing::HasSubstr;

// Counts GenerateBatch calls and the Generate calls each carried; `drop_last` answers one result short.
class CountingModel final : public FakeGenerativeModel {
 public:
  explicit CountingModel(bool drop_last = false)
      : FakeGenerativeModel(FakeConditionalManifest("cond", 1)), drop_last_(drop_last) {}

  std::vector<absl::StatusOr<DenseMatrix>> GenerateBatch(const std::vector<GenerateCall>& calls) const override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(calls.size());
    }
    std::vector<absl::StatusOr<DenseMatrix>> results = GenerativeModel::GenerateBatch(calls);
    if (drop_last_) results.pop_back();
    return results;
  }
  std::vector<size_t> batch_sizes() const {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }

 private:
  const bool drop_last_;
  mutable absl::Mutex mu_;
  mutable std::vector<size_t> batch_sizes_ ABSL_GUARDED_BY(mu_);
};

struct Pending {
  std::shared_ptr<RequestCompletion<DenseMatrix>> completion;
  GenerateArgs args;
};

std::vector<std::unique_ptr<BatchTask>> MakeBatch(std::vector<Pending>* pending) {
  std::vector<std::unique_ptr<BatchTask>> batch;
  const std::vector<std::pair<int64_t, uint64_t>> shapes = {{2, 7}, {1, 9}, {3, 7}};
  for (const auto& [n, seed] : shapes) {
    Pending p;
    p.completion = std::make_shared<RequestCompletion<DenseMatrix>>();
    p.args.n = n;
    p.args.codes = {std::vector<int64_t>(static_cast<size_t>(n), 1), std::vector<int64_t>(static_cast<size_t>(n), 0)};
    p.args.seed = seed;
    batch.push_back(std::make_unique<GenerateTask>(p.args, p.completion));
    pending->push_back(std::move(p));
  }
  return batch;
}

TEST(GenerateTaskTest, ABatchIsOneModelCallAndEveryTaskGetsItsOwnCells) {
  CountingModel model;
  std::vector<Pending> pending;
  std::vector<std::unique_ptr<BatchTask>> batch = MakeBatch(&pending);
  static_cast<ModelTask&>(*batch[0]).RunBatch(model, batch);
  EXPECT_EQ(model.batch_sizes(), std::vector<size_t>({3}));
  for (const Pending& p : pending) {
    absl::StatusOr<DenseMatrix> cells = p.completion->Wait(CallContext());
    ASSERT_THAT(cells, IsOk());
    absl::StatusOr<DenseMatrix> alone = model.Generate(p.args.n, p.args.codes, p.args.seed, 0.0f, false);
    ASSERT_THAT(alone, IsOk());
    EXPECT_EQ(cells->rows, p.args.n);
    EXPECT_EQ(cells->values, alone->values);
  }
}

TEST(GenerateTaskTest, AModelAnsweringTheWrongNumberOfResultsFailsEveryTask) {
  CountingModel model(/*drop_last=*/true);
  std::vector<Pending> pending;
  std::vector<std::unique_ptr<BatchTask>> batch = MakeBatch(&pending);
  static_cast<ModelTask&>(*batch[0]).RunBatch(model, batch);
  for (const Pending& p : pending) {
    absl::StatusOr<DenseMatrix> cells = p.completion->Wait(CallContext());
    EXPECT_EQ(cells.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(cells.status().message(), HasSubstr("2 results for a batch of 3"));
  }
}

}  // namespace
}  // namespace genailab
