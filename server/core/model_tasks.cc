#include "server/core/model_tasks.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace genailab {

DenseMatrix SliceRows(const DenseMatrix& m, int64_t begin, int64_t end) {
  DenseMatrix out;
  out.rows = end - begin;
  out.cols = m.cols;
  out.values.assign(m.values.begin() + begin * m.cols, m.values.begin() + end * m.cols);
  return out;
}

void AppendRows(const DenseMatrix& tail, DenseMatrix* m) {
  if (m->rows == 0) m->cols = tail.cols;
  m->values.insert(m->values.end(), tail.values.begin(), tail.values.end());
  m->rows += tail.rows;
}

CovariateCodes SliceCodes(const CovariateCodes& codes, int64_t begin, int64_t end) {
  CovariateCodes out;
  out.reserve(codes.size());
  for (const auto& column : codes) out.emplace_back(column.begin() + begin, column.begin() + end);
  return out;
}

void RowTask::RunBatch(const GenerativeModel& model, std::vector<std::unique_ptr<BatchTask>>& batch) {
  // A batch of one runs on its own input, without copies.
  RowInput merged;
  const RowInput* input = &input_;
  if (batch.size() > 1) {
    merged.codes.resize(input_.codes.size());
    for (auto& task : batch) {
      const RowInput& part = static_cast<RowTask&>(*task).input_;
      AppendRows(part.x, &merged.x);
      for (size_t k = 0; k < merged.codes.size(); ++k) {
        merged.codes[k].insert(merged.codes[k].end(), part.codes[k].begin(), part.codes[k].end());
      }
      merged.library_size.insert(merged.library_size.end(), part.library_size.begin(), part.library_size.end());
    }
    input = &merged;
  }
  absl::StatusOr<RowOutput> output = function_(model, *input);
  if (output.ok() && (output->first.rows != input->x.rows ||
                      (output->second.rows != 0 && output->second.rows != input->x.rows))) {
    output = absl::InternalError(absl::StrCat("model returned ", output->first.rows, " rows for a batch of ",
                                              input->x.rows));
  }
  int64_t offset = 0;
  for (auto& task : batch) {
    RowTask& row_task = static_cast<RowTask&>(*task);
    if (!output.ok()) {
      row_task.completion_->Set(output.status());
      continue;
    }
    const int64_t rows = row_task.cells();
    if (batch.size() == 1) {
      row_task.completion_->Set(std::move(output).value());
      break;
    }
    RowOutput part;
    part.first = SliceRows(output->first, offset, offset + rows);
    if (output->second.rows != 0) part.second = SliceRows(output->second, offset, offset + rows);
    row_task.completion_->Set(std::move(part));
    offset += rows;
  }
}

void GenerateTask::RunBatch(const GenerativeModel& model, std::vector<std::unique_ptr<BatchTask>>& batch) {
  std::vector<GenerativeModel::GenerateCall> calls;
  calls.reserve(batch.size());
  for (auto& task : batch) {
    const GenerateArgs& a = static_cast<GenerateTask&>(*task).args_;
    calls.push_back({a.n, &a.codes, a.seed, a.library_size, a.sample_counts});
  }
  std::vector<absl::StatusOr<DenseMatrix>> cells = model.GenerateBatch(calls);
  for (size_t i = 0; i < batch.size(); ++i) {
    GenerateTask& generate = static_cast<GenerateTask&>(*batch[i]);
    if (cells.size() != batch.size()) {
      generate.completion_->Set(absl::InternalError(absl::StrCat(
          "model returned ", cells.size(), " results for a batch of ", batch.size(), " Generate calls")));
      continue;
    }
    generate.completion_->Set(std::move(cells[i]));
  }
}

}  // namespace genailab
