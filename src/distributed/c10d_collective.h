#pragma once
// Internal: boosthead::Collective over c10d collectives (a ProcessGroup's or a Backend's).

#include <boosthead/collective.h>
#include <torch/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <vector>

namespace boosthead::detail {

struct C10dOps {
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)> allreduce;
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<std::vector<at::Tensor>>&,
                                               std::vector<at::Tensor>&)>
      allgather;
  // Where the collective's tensors must be (CUDA for NCCL).
  torch::Device device = torch::kCPU;
  // The rendezvous store, to find out which processes are lost after a failure; may be null.
  c10::intrusive_ptr<c10d::Store> store;
  std::chrono::milliseconds timeout{0};
};

std::shared_ptr<Collective> make_c10d_collective(C10dOps ops, int rank, int size);

}  // namespace boosthead::detail
