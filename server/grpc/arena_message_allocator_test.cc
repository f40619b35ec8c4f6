#include "server/grpc/arena_message_allocator.h"

#include <string>

#include "genailab/v1/generative_service.pb.h"
#include "gtest/gtest.h"

namespace genailab {
namespace {

TEST(ArenaMessageAllocatorTest, RequestAndResponseShareOneArenaPerCall) {
  ArenaMessageAllocator<v1::EncodeRequest, v1::EncodeResponse> allocator;
  grpc::MessageHolder<v1::EncodeRequest, v1::EncodeResponse>* first = allocator.AllocateMessages();
  grpc::MessageHolder<v1::EncodeRequest, v1::EncodeResponse>* second = allocator.AllocateMessages();
  ASSERT_NE(first->request()->GetArena(), nullptr);
  EXPECT_EQ(first->request()->GetArena(), first->response()->GetArena());
  EXPECT_NE(first->request()->GetArena(), second->request()->GetArena());

  // Messages on the arena work as usual, strings included, until the holder is released.
  for (int i = 0; i < 500; ++i) first->response()->mutable_latent_mean()->add_column_names("gene_" + std::to_string(i));
  first->request()->mutable_model()->set_name("m");
  EXPECT_EQ(first->response()->latent_mean().column_names(499), "gene_499");
  EXPECT_EQ(first->request()->model().name(), "m");
  first->Release();
  second->Release();
}

}  // namespace
}  // namespace genailab
