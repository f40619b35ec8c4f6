#include "server/core/generation_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "data/status_matchers.h"

namespace genailab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Block b of a stream of `total` cells in blocks of `block_cells`: one column
// whose value is the cell's index in the stream, so that messages show which
// cells they carry.
DenseMatrix BlockCells(int64_t block, int64_t block_cells, int64_t total) {
  const int64_t begin = block * block_cells;
  const int64_t rows = std::min(block_cells, total - begin);
  DenseMatrix cells(rows, 1);
  for (int64_t r = 0; r < rows; ++r) cells.at(r, 0) = static_cast<float>(begin + r);
  return cells;
}

// Holds every started block's callback until the test completes it.
class HeldSource {
 public:
  HeldSource(int64_t block_cells, int64_t total) : block_cells_(block_cells), total_(total) {}

  GenerationStream::BlockSource AsSource() {
    return [this](int64_t block, Callback<DenseMatrix> done) {
      started_.push_back(block);
      held_.emplace_back(block, std::move(done));
    };
  }
  // Completes the held block `block` with its cells, or with `error` when
  // given.
  void Complete(int64_t block, absl::Status error = absl::OkStatus()) {
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if (it->first != block) continue;
      Callback<DenseMatrix> done = std::move(it->second);
      held_.erase(it);
      if (error.ok()) {
        done(BlockCells(block, block_cells_, total_));
      } else {
        done(error);
      }
      return;
    }
    ADD_FAILURE() << "block " << block << " is not held";
  }
  const std::vector<int64_t>& started() const { return started_; }
  size_t held() const { return held_.size(); }

 private:
  const int64_t block_cells_;
  const int64_t total_;
  std::vector<int64_t> started_;
  std::vector<std::pair<int64_t, Callback<DenseMatrix>>> held_;
};

// Create, expected to succeed (nullptr otherwise).
std::shared_ptr<GenerationStream> Start(GenerationStream::Options options, GenerationStream::BlockSource source,
                                        GenerationStream::MessageBuilder builder) {
  absl::StatusOr<std::shared_ptr<GenerationStream>> created =
      GenerationStream::Create(options, std::move(source), std::move(builder));
  EXPECT_THAT(created, IsOk());
  return created.ok() ? *created : nullptr;
}

MATCHER_P(Holds, expected, "is OK and holds " + ::testing::PrintToString(expected)) {
  return arg.ok() && *arg == expected;
}

// Records what the builder was given.
GenerationStream::MessageBuilder IndexBuilder() {
  return [](const DenseMatrix& cells, int64_t first_cell, v1::GenerateResponse* message) {
    message->Clear();
    message->mutable_model()->set_version(first_cell);  // carries first_cell for the test
    message->mutable_cells()->set_rows(cells.rows);
    message->mutable_cells()->mutable_dense()->mutable_values()->Add(cells.values.begin(), cells.values.end());
  };
}

// The outcome of one Next.
struct NextResult {
  bool called = false;
  absl::StatusOr<bool> more = absl::UnknownError("not called");
};

Callback<bool> Record(NextResult* result) {
  return [result](absl::StatusOr<bool> more) {
    result->called = true;
    result->more = std::move(more);
  };
}

std::vector<float> Values(const v1::GenerateResponse& message) {
  return {message.cells().dense().values().begin(), message.cells().dense().values().end()};
}

TEST(GenerationStreamTest, HandsOutCellsInOrderInChunksAcrossBlocks) {
  // 13 cells in blocks of 5 (5, 5, 3), messages of 4: 4, 4, 4, 1.
  const auto source = [](int64_t block, Callback<DenseMatrix> done) { done(BlockCells(block, 5, 13)); };
  auto stream = Start({/*blocks=*/3, /*chunk_cells=*/4, /*window=*/2}, source, IndexBuilder());
  ASSERT_NE(stream, nullptr);
  std::vector<float> all;
  std::vector<int64_t> firsts;
  std::vector<int64_t> sizes;
  v1::GenerateResponse message;
  for (;;) {
    NextResult result;
    stream->Next(&message, Record(&result));
    ASSERT_TRUE(result.called);  // every block is ready: answered on the calling thread
    ASSERT_THAT(result.more, IsOk());
    if (!*result.more) break;
    firsts.push_back(message.model().version());
    sizes.push_back(message.cells().rows());
    for (float v : Values(message)) all.push_back(v);
  }
  EXPECT_THAT(sizes, ElementsAre(4, 4, 4, 1));
  EXPECT_THAT(firsts, ElementsAre(0, 4, 8, 12));
  ASSERT_EQ(all.size(), 13u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<float>(i));
  // After the end, the end again.
  NextResult again;
  stream->Next(&message, Record(&again));
  ASSERT_TRUE(again.called);
  EXPECT_THAT(again.more, Holds(false));
}

TEST(GenerationStreamTest, WaitsForTheNextBlockInOrderAndKeepsAtMostWindowBlocksOutstanding) {
  HeldSource source(/*block_cells=*/4, /*total=*/16);
  auto stream = Start({/*blocks=*/4, /*chunk_cells=*/4, /*window=*/2}, source.AsSource(), IndexBuilder());
  ASSERT_NE(stream, nullptr);
  EXPECT_THAT(source.started(), ElementsAre(0, 1));

  // Block 1 finishes first: the reader still waits for block 0, and nothing new
  // starts.
  v1::GenerateResponse message;
  NextResult first;
  stream->Next(&message, Record(&first));
  source.Complete(1);
  EXPECT_FALSE(first.called);
  EXPECT_THAT(source.started(), ElementsAre(0, 1));

  // Block 0 arrives: the waiting Next is answered on this (the "scheduler's")
  // thread with cells 0..3, and taking block 0 starts block 2.
  source.Complete(0);
  ASSERT_TRUE(first.called);
  EXPECT_THAT(first.more, Holds(true));
  EXPECT_THAT(Values(message), ElementsAre(0, 1, 2, 3));
  // Block 1 is taken only now, which starts block 3.
  NextResult second;
  stream->Next(&message, Record(&second));
  ASSERT_TRUE(second.called);
  EXPECT_THAT(Values(message), ElementsAre(4, 5, 6, 7));
  EXPECT_THAT(source.started(), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(source.held(), 2u);

  source.Complete(2);
  source.Complete(3);
  NextResult third;
  stream->Next(&message, Record(&third));
  EXPECT_THAT(Values(message), ElementsAre(8, 9, 10, 11));
  NextResult fourth;
  stream->Next(&message, Record(&fourth));
  EXPECT_THAT(Values(message), ElementsAre(12, 13, 14, 15));
  NextResult end;
  stream->Next(&message, Record(&end));
  EXPECT_THAT(end.more, Holds(false));
}

TEST(GenerationStreamTest, SlowReaderHoldsNoMoreThanWindowBlocks) {
  HeldSource source(/*block_cells=*/2, /*total=*/20);
  auto stream = Start({/*blocks=*/10, /*chunk_cells=*/2, /*window=*/3}, source.AsSource(), IndexBuilder());
  ASSERT_NE(stream, nullptr);
  // Every started block finishes and nobody reads: the stream stops at the
  // window.
  for (int64_t block = 0; block < 3; ++block) source.Complete(block);
  EXPECT_THAT(source.started(), ElementsAre(0, 1, 2));
}

TEST(GenerationStreamTest, AFailedBlockEndsTheStreamAfterTheCellsBeforeIt) {
  HeldSource source(/*block_cells=*/3, /*total=*/12);
  auto stream = Start({/*blocks=*/4, /*chunk_cells=*/3, /*window=*/2}, source.AsSource(), IndexBuilder());
  ASSERT_NE(stream, nullptr);
  source.Complete(0);
  source.Complete(1, absl::ResourceExhaustedError("queue full"));
  v1::GenerateResponse message;
  NextResult first;
  stream->Next(&message, Record(&first));
  EXPECT_THAT(first.more, Holds(true));
  EXPECT_THAT(Values(message), ElementsAre(0, 1, 2));
  NextResult failed;
  stream->Next(&message, Record(&failed));
  ASSERT_TRUE(failed.called);
  EXPECT_THAT(failed.more, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("queue full")));
  NextResult again;
  stream->Next(&message, Record(&again));
  EXPECT_THAT(again.more, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("queue full")));
  // Block 2 started when block 0 was taken; nothing starts after the failure.
  EXPECT_THAT(source.started(), ElementsAre(0, 1, 2));
  source.Complete(2);  // a block still in flight lands harmlessly
}

TEST(GenerationStreamTest, ABlockRefusedOnTheCallingThreadFailsWithoutDeadlock) {
  const auto source = [](int64_t block, Callback<DenseMatrix> done) {
    if (block == 0) {
      done(BlockCells(0, 2, 4));
    } else {
      done(absl::ResourceExhaustedError("refused"));
    }
  };
  auto stream = Start({/*blocks=*/2, /*chunk_cells=*/4, /*window=*/1}, source, IndexBuilder());
  ASSERT_NE(stream, nullptr);
  v1::GenerateResponse message;
  NextResult result;
  stream->Next(&message,
               Record(&result));  // takes block 0, starts block 1, which fails inline
  ASSERT_TRUE(result.called);
  EXPECT_THAT(result.more, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("refused")));
}

TEST(GenerationStreamTest, ASecondNextWhileOneIsOutstandingIsRefused) {
  HeldSource source(/*block_cells=*/2, /*total=*/2);
  auto stream = Start({/*blocks=*/1, /*chunk_cells=*/2, /*window=*/1}, source.AsSource(), IndexBuilder());
  ASSERT_NE(stream, nullptr);
  v1::GenerateResponse message;
  v1::GenerateResponse other;
  NextResult first;
  NextResult second;
  stream->Next(&message, Record(&first));
  stream->Next(&other, Record(&second));
  ASSERT_TRUE(second.called);
  EXPECT_THAT(second.more, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("outstanding")));
  source.Complete(0);
  EXPECT_THAT(first.more, Holds(true));
  EXPECT_THAT(Values(message), ElementsAre(0, 1));
}

TEST(GenerationStreamTest, ReleasedStreamOutlivesItsBlocksInFlight) {
  HeldSource source(/*block_cells=*/2, /*total=*/4);
  {
    auto stream = Start({/*blocks=*/2, /*chunk_cells=*/2, /*window=*/2}, source.AsSource(), IndexBuilder());
    ASSERT_NE(stream, nullptr);
  }
  // The blocks hold the stream: completing them after the caller let go is
  // safe.
  source.Complete(0);
  source.Complete(1, absl::CancelledError("client went away"));
  EXPECT_EQ(source.held(), 0u);
}

TEST(GenerationStreamTest, CreateRejectsBadOptions) {
  const auto source = [](int64_t, Callback<DenseMatrix>) {};
  EXPECT_THAT(GenerationStream::Create({0, 1, 1}, source, IndexBuilder()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("blocks")));
  EXPECT_THAT(GenerationStream::Create({1, 0, 1}, source, IndexBuilder()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("chunk_cells")));
  EXPECT_THAT(GenerationStream::Create({1, 1, 0}, source, IndexBuilder()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
  EXPECT_THAT(GenerationStream::Create({1, 1, 1}, nullptr, IndexBuilder()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("source")));
}

}  // namespace
}  // namespace genailab
