#include "models/data_parallel_group.h"

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace genailab {
namespace {

// How long a rank waits for the others at the rendezvous and in a collective.
constexpr std::chrono::seconds kRendezvousTimeout(120);

class C10dGroup final : public DataParallelGroup {
 public:
  C10dGroup(int rank, int world_size, c10::intrusive_ptr<c10d::Store> store,
            c10::intrusive_ptr<c10d::ProcessGroup> group)
      : DataParallelGroup(rank, world_size), store_(std::move(store)), group_(std::move(group)) {}

  void SumInPlace(const std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    std::vector<torch::Tensor> flat_parts;
    flat_parts.reserve(tensors.size());
    for (const torch::Tensor& tensor : tensors) flat_parts.push_back(tensor.reshape({-1}));
    std::vector<torch::Tensor> buffer = {torch::cat(flat_parts)};
    group_->allreduce(buffer)->wait();
    int64_t offset = 0;
    for (const torch::Tensor& tensor : tensors) {
      const int64_t n = tensor.numel();
      tensor.copy_(buffer[0].slice(0, offset, offset + n).view_as(tensor));
      offset += n;
    }
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DataParallelGroup>> DataParallelGroup::Join(const DistributedOptions& options,
                                                                           torch::Device device) {
  if (options.world_size < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.world_size must be >= 2 to join a group, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("distributed.rank must be in [0, ", options.world_size,
                                                   "), got ", options.rank));
  }
  if (options.master_port <= 0 || options.master_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.master_port must be in [1, 65535], got ", options.master_port));
  }
  std::string backend = options.backend;
  if (backend == "auto") backend = device.is_cuda() ? "nccl" : "gloo";
  if (backend != "gloo" && backend != "nccl") {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.backend '", options.backend, "' is not one of: auto, gloo, nccl"));
  }
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(options.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = kRendezvousTimeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    c10::intrusive_ptr<c10d::ProcessGroup> group;
    if (backend == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(kRendezvousTimeout);
      // On loopback, bind Gloo to 127.0.0.1 (the host name may resolve to an address other ranks cannot
      // reach); otherwise let Gloo pick the interface for this host's name.
      const bool loopback = options.master_addr == "localhost" || absl::StartsWith(options.master_addr, "127.");
      gloo_options->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                               : c10d::ProcessGroupGloo::createDefaultDevice());
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, options.rank, options.world_size, gloo_options);
    } else {
#ifdef USE_C10D_NCCL
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, options.rank, options.world_size);
#else
      return absl::UnavailableError(
          "distributed.backend nccl: this LibTorch was built without NCCL (Debian's is CPU-only)");
#endif
    }
    return std::unique_ptr<DataParallelGroup>(
        new C10dGroup(options.rank, options.world_size, std::move(store), std::move(group)));
  } catch (const std::exception& exception) {
    return absl::UnavailableError(absl::StrCat("distributed rendezvous at ", options.master_addr, ":",
                                               options.master_port, " failed: ", exception.what()));
  }
}

}  // namespace genailab
