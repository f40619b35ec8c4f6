// ModelTask: a BatchTask that runs batches of its own kind on a GenerativeModel. The scheduler of a
// model instance hands every batch to the head task's RunBatch (all tasks of a batch share its
// batch_key, hence its concrete type), so the schedulers stay ignorant of request types.
//
// Thread-safety: RunBatch is called on the scheduler's worker thread, one batch at a time per instance.
#ifndef GENAILAB_SERVER_CORE_MODEL_TASK_H_
#define GENAILAB_SERVER_CORE_MODEL_TASK_H_

#include <memory>
#include <vector>

#include "models/generative_model.h"
#include "server/core/batch_scheduler.h"

namespace genailab {

class ModelTask : public BatchTask {
 public:
  // Runs `batch` (this task is batch[0]; every task has this task's type) on `model` and completes
  // every task of it, with a result or Fail().
  virtual void RunBatch(const GenerativeModel& model, std::vector<std::unique_ptr<BatchTask>>& batch) = 0;
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_MODEL_TASK_H_
