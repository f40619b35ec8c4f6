// GenerationStream: the cells of one GenerateStream call, made asynchronously
// in seed blocks and handed out as messages of chunk_cells cells, in order,
// without a thread waiting for the model.
//
// Blocks are started ahead of the reader: at most Options::window blocks are in
// flight or finished but not yet taken, so a stream keeps that many model
// instances busy while earlier cells are written, and holds at most window
// blocks plus one message's cells in memory however slowly its client reads. A
// block that fails ends the stream with its error; later blocks are not started
// (those in flight run to completion, or are dropped by their scheduler once
// the call is cancelled).
//
// The reader asks for one message at a time with Next(); the answer comes on
// the calling thread when the cells are already there, otherwise on the thread
// that finished the block (a scheduler worker), so the callback must be quick
// and must not block. The gRPC layer's GenerateStream reactor writes each
// message and asks for the next one when the write is done.
//
// The stream knows nothing of models: a BlockSource starts block b and a
// MessageBuilder turns cells into a message, so a unit test drives it with
// fakes.
//
// Ownership: held by std::shared_ptr; each started block holds a reference
// until its callback has run, so the stream may be released while blocks are in
// flight. Thread-safe.
#ifndef GENAILAB_SERVER_CORE_GENERATION_STREAM_H_
#define GENAILAB_SERVER_CORE_GENERATION_STREAM_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "data/matrix.h"
#include "genailab/v1/generative_service.pb.h"
#include "server/core/request_completion.h"

namespace genailab {

class GenerationStream : public std::enable_shared_from_this<GenerationStream> {
 public:
  // Starts making block `block` (0-based) and hands its cells, or its error, to
  // `done` exactly once, on any thread (the calling one included, e.g. for a
  // task its scheduler refused).
  using BlockSource = std::function<void(int64_t block, Callback<DenseMatrix> done)>;
  // Fills `message` (which may hold a previous message: overwrite every field)
  // with `cells`, the stream's cells [first_cell, first_cell + cells.rows).
  using MessageBuilder =
      std::function<void(const DenseMatrix& cells, int64_t first_cell, v1::GenerateResponse* message)>;

  struct Options {
    // Blocks in the stream (> 0); block b's cells follow block b-1's.
    int64_t blocks = 0;
    // Cells per message (> 0); the last message may be shorter.
    int64_t chunk_cells = 0;
    // Most blocks started and not yet taken into messages (> 0).
    int64_t window = 2;
  };

  // INVALID_ARGUMENT for options out of range or an empty source or builder.
  // Starts the first `window` blocks before it returns.
  static absl::StatusOr<std::shared_ptr<GenerationStream>> Create(Options options, BlockSource source,
                                                                  MessageBuilder builder);

  // Writes the next message into `*message` and calls done(true); done(false)
  // once every cell has been handed out; done(error) when a block failed (then
  // for every later call too). One call at a time: another Next before `done`
  // has run gets FAILED_PRECONDITION. `message` must stay valid until `done`
  // runs.
  void Next(v1::GenerateResponse* message, Callback<bool> done);

  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

 private:
  // One started block: its cells once its source called back.
  struct Slot {
    bool done = false;
    absl::StatusOr<DenseMatrix> cells;
  };
  struct Waiter {
    v1::GenerateResponse* message;
    Callback<bool> done;
  };

  GenerationStream(Options options, BlockSource source, MessageBuilder builder)
      : options_(options), source_(std::move(source)), builder_(std::move(builder)) {}

  // Starts blocks until `window` are outstanding (none after a failure). Call
  // without mu_.
  void StartBlocks() ABSL_LOCKS_EXCLUDED(mu_);
  void OnBlock(const std::shared_ptr<Slot>& slot, absl::StatusOr<DenseMatrix> cells) ABSL_LOCKS_EXCLUDED(mu_);
  // Answers the waiting Next, if it can be answered now. Call without mu_.
  void Serve() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const BlockSource source_;
  const MessageBuilder builder_;

  absl::Mutex mu_;
  int64_t next_block_ ABSL_GUARDED_BY(mu_) = 0;
  // Started blocks not yet taken, in block order.
  std::deque<std::shared_ptr<Slot>> in_flight_ ABSL_GUARDED_BY(mu_);
  // Cells taken from finished blocks; rows [pending_offset_, pending_.rows) are
  // not yet handed out.
  DenseMatrix pending_ ABSL_GUARDED_BY(mu_);
  int64_t pending_offset_ ABSL_GUARDED_BY(mu_) = 0;
  // Cells handed out so far.
  int64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  // The first block failure; the stream's answer from then on.
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::optional<Waiter> waiter_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_CORE_GENERATION_STREAM_H_
