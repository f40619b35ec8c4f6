// ArenaMessageAllocator<Request, Response>: a gRPC callback-API message allocator that places a call's
// request and response on one protobuf Arena, freed in one go when the call is done. A response names
// its genes (hundreds of strings per message) and an Encode request names them too; on the heap each
// of those strings is a malloc and a free per call, which at small requests costs as much as the model.
// The arena's first block is sized for a small call, so most calls allocate once.
//
// Thread-safety: AllocateMessages may be called from any thread (it touches no shared state).
#ifndef GENAILAB_SERVER_GRPC_ARENA_MESSAGE_ALLOCATOR_H_
#define GENAILAB_SERVER_GRPC_ARENA_MESSAGE_ALLOCATOR_H_

#include <cstddef>

#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace genailab {

template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  // Bytes of the arena's first block: a 1-cell request or response with a few hundred gene names.
  static constexpr size_t kInitialBlockBytes = 16 * 1024;

  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions options;
      options.start_block_size = kInitialBlockBytes;
      options.max_block_size = 1 << 20;
      return options;
    }
    google::protobuf::Arena arena_;
  };
};

}  // namespace genailab

#endif  // GENAILAB_SERVER_GRPC_ARENA_MESSAGE_ALLOCATOR_H_
