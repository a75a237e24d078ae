#pragma once
/// \file
/// Joining the processes of a data-parallel fit through PyTorch's c10d, as torchrun launches
/// them: `torchrun --nproc-per-node N --no-python boosthead fit ...`.

#include <boosthead/collective.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/arg.h>

#include <memory>
#include <string>

namespace c10d {
class ProcessGroup;
}

namespace boosthead {

/// How a process joins the group.
struct ProcessGroupOptions {
  /// "gloo" or "auto" (gloo), the backends process_group_backends() lists. (An NCCL group
  /// made elsewhere, by torch.distributed for instance, serves through
  /// process_group_collective().)
  TORCH_ARG(std::string, backend) = "auto";
  /// Seconds a collective may wait for the other processes before the fit fails; a process that
  /// died or hangs is named within this time plus a few seconds.
  TORCH_ARG(double, timeout) = 45.0;
};

/// Whether this process was launched as one of a group: torchrun's RANK and WORLD_SIZE are set.
bool launched_as_process_group();

/// Joins the group that torchrun's environment describes (RANK, WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT; LOCAL_RANK; TORCHELASTIC_USE_AGENT_STORE; GLOO_SOCKET_IFNAME) through a c10d
/// TCPStore and process group. Throws std::invalid_argument naming a missing or malformed
/// variable, or std::runtime_error when the rendezvous fails. A collective that fails (a
/// process died, hangs beyond the timeout, or the network broke) throws std::runtime_error
/// naming the processes that no longer answer.
std::shared_ptr<Collective> join_process_group(const ProcessGroupOptions& options = {});

/// The processes of an existing c10d process group, such as torch.distributed's default group:
/// its allreduce and allgather carry the fit's reductions (on this process's GPU for NCCL, the
/// one of LOCAL_RANK).
std::shared_ptr<Collective> process_group_collective(
    const c10::intrusive_ptr<c10d::ProcessGroup>& group);

/// The backends this build can join ("gloo", and "nccl" where built).
std::vector<std::string> process_group_backends();

}  // namespace boosthead
