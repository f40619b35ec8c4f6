// DistributedOptions: where a process stands in a data-parallel training job (torch-free).
#ifndef GENAILAB_MODELS_DISTRIBUTED_OPTIONS_H_
#define GENAILAB_MODELS_DISTRIBUTED_OPTIONS_H_

#include <string>

namespace genailab {

// Data-parallel training across processes (c10d). world_size 1 (the default) trains in this process
// alone. With world_size > 1 every rank must run the same job on the same data: each global minibatch of
// batch_size cells is split across the ranks and the gradients are averaged with an allreduce every step.
struct DistributedOptions {
  int world_size = 1;
  int rank = 0;
  // Rendezvous: rank 0 serves a TCPStore at master_addr:master_port, the others connect to it.
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // "auto" (NCCL on CUDA, Gloo on CPU), "gloo" or "nccl".
  std::string backend = "auto";
};

}  // namespace genailab

#endif  // GENAILAB_MODELS_DISTRIBUTED_OPTIONS_H_
