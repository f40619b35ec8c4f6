// Models-internal (includes torch): the processes of one data-parallel training job, joined through
// PyTorch's c10d (a TCPStore rendezvous served by rank 0; Gloo on CPU, NCCL on CUDA when LibTorch was built
// with it), and the one collective training needs: summing tensors across the ranks.
//
// Ownership: owns the store and the process group. Thread-compatible: one training loop uses it.
#ifndef GENAILAB_MODELS_DATA_PARALLEL_GROUP_H_
#define GENAILAB_MODELS_DATA_PARALLEL_GROUP_H_

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "models/distributed_options.h"

namespace genailab {

class DataParallelGroup {
 public:
  // Joins the group that `options` describe (blocking until every rank has joined or the rendezvous times
  // out). INVALID_ARGUMENT naming the field for a bad world_size/rank/port/backend; UNAVAILABLE if the
  // rendezvous fails or the backend is not built into this LibTorch.
  static absl::StatusOr<std::unique_ptr<DataParallelGroup>> Join(const DistributedOptions& options,
                                                                 torch::Device device);
  virtual ~DataParallelGroup() = default;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // Replaces every tensor by its sum over all ranks (one allreduce over a flattened copy). Every rank
  // must call it with tensors of the same shapes. Throws c10::Error if the collective fails.
  virtual void SumInPlace(const std::vector<torch::Tensor>& tensors) = 0;

 protected:
  DataParallelGroup(int rank, int world_size) : rank_(rank), world_size_(world_size) {}

 private:
  const int rank_;
  const int world_size_;
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DATA_PARALLEL_GROUP_H_
