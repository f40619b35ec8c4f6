#include "server/core/generation_stream.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/model_tasks.h"

namespace genailab {

absl::StatusOr<std::shared_ptr<GenerationStream>> GenerationStream::Create(Options options, BlockSource source,
                                                                           MessageBuilder builder) {
  if (options.blocks <= 0 || options.chunk_cells <= 0 || options.window <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("GenerationStream: blocks (", options.blocks, "), chunk_cells (",
                                                   options.chunk_cells, ") and window (", options.window,
                                                   ") must be positive"));
  }
  if (!source || !builder) return absl::InvalidArgumentError("GenerationStream: source and builder are required");
  std::shared_ptr<GenerationStream> stream(new GenerationStream(options, std::move(source), std::move(builder)));
  stream->StartBlocks();
  return stream;
}

void GenerationStream::StartBlocks() {
  std::vector<std::pair<int64_t, std::shared_ptr<Slot>>> started;
  {
    absl::MutexLock lock(&mu_);
    while (status_.ok() && next_block_ < options_.blocks && static_cast<int64_t>(in_flight_.size()) < options_.window) {
      auto slot = std::make_shared<Slot>();
      in_flight_.push_back(slot);
      started.emplace_back(next_block_++, std::move(slot));
    }
  }
  // Outside the lock: a source may call back at once.
  for (auto& [block, slot] : started) {
    source_(block, [self = shared_from_this(), slot = slot](absl::StatusOr<DenseMatrix> cells) {
      self->OnBlock(slot, std::move(cells));
    });
  }
}

void GenerationStream::OnBlock(const std::shared_ptr<Slot>& slot, absl::StatusOr<DenseMatrix> cells) {
  {
    absl::MutexLock lock(&mu_);
    slot->done = true;
    slot->cells = std::move(cells);
  }
  Serve();
}

void GenerationStream::Next(v1::GenerateResponse* message, Callback<bool> done) {
  bool busy = false;
  {
    absl::MutexLock lock(&mu_);
    busy = waiter_.has_value();
    if (!busy) waiter_ = Waiter{message, std::move(done)};
  }
  if (busy) {
    done(absl::FailedPreconditionError("GenerationStream: Next called while a Next is outstanding"));
    return;
  }
  Serve();
}

void GenerationStream::Serve() {
  std::optional<Waiter> waiter;
  absl::StatusOr<bool> answer = false;
  DenseMatrix cells;
  int64_t first_cell = 0;
  bool took_block = false;
  {
    absl::MutexLock lock(&mu_);
    while (waiter_.has_value()) {
      const int64_t available = pending_.rows - pending_offset_;
      const bool all_taken = next_block_ == options_.blocks && in_flight_.empty();
      if (!status_.ok()) {
        answer = status_;
      } else if (available >= options_.chunk_cells || (all_taken && available > 0)) {
        const int64_t rows = std::min(options_.chunk_cells, available);
        cells = SliceRows(pending_, pending_offset_, pending_offset_ + rows);
        first_cell = sent_;
        pending_offset_ += rows;
        sent_ += rows;
        answer = true;
      } else if (all_taken) {
        answer = false;
      } else if (in_flight_.front()->done) {
        std::shared_ptr<Slot> slot = std::move(in_flight_.front());
        in_flight_.pop_front();
        took_block = true;
        if (!slot->cells.ok()) {
          status_ = slot->cells.status();
        } else {
          // Drop the rows already handed out before appending, so that pending_ stays one block plus
          // less than one message.
          if (pending_offset_ > 0) {
            pending_ = SliceRows(pending_, pending_offset_, pending_.rows);
            pending_offset_ = 0;
          }
          AppendRows(*slot->cells, &pending_);
        }
        continue;
      } else {
        break;  // the next block is still being made; its OnBlock serves the waiter
      }
      waiter = std::move(waiter_);
      waiter_.reset();
    }
  }
  if (took_block) StartBlocks();
  if (!waiter.has_value()) return;
  if (answer.ok() && *answer) builder_(cells, first_cell, waiter->message);
  waiter->done(std::move(answer));
}

}  // namespace genailab
