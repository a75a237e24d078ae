// boosthead::Collective over c10d (c10d_collective.h), and over a user's ProcessGroup
// (distributed.h).

#include "c10d_collective.h"

#include <boosthead/distributed.h>
#include <c10/util/Logging.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace boosthead {
namespace detail {
namespace {

using std::chrono::milliseconds;

class C10dCollective final : public Collective {
 public:
  C10dCollective(C10dOps ops, int rank, int size)
      : ops_(std::move(ops)), rank_(rank), size_(size) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }

 protected:
  void all_reduce_sum(double* values, size_t count) override {
    if (count == 0) return;
    auto host = torch::from_blob(values, {static_cast<int64_t>(count)}, torch::kDouble);
    std::vector<at::Tensor> t{ops_.device.is_cpu() ? host : host.to(ops_.device)};
    run([&] { return ops_.allreduce(t); });
    if (!ops_.device.is_cpu()) host.copy_(t[0].cpu());
  }

  std::vector<std::string> gather_bytes(const std::string& bytes) override {
    // Lengths first, then the bytes padded to the longest.
    std::vector<double> lengths(static_cast<size_t>(size_), 0.0);
    lengths[static_cast<size_t>(rank_)] = static_cast<double>(bytes.size());
    all_reduce_sum(lengths.data(), lengths.size());
    int64_t longest = 1;
    for (double l : lengths) longest = std::max<int64_t>(longest, static_cast<int64_t>(l));
    auto mine = torch::zeros({longest}, torch::kUInt8);
    std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    std::vector<at::Tensor> in{mine.to(ops_.device)};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < size_; ++r) {
      out[0].push_back(torch::empty({longest}, torch::dtype(torch::kUInt8).device(ops_.device)));
    }
    run([&] { return ops_.allgather(out, in); });
    std::vector<std::string> result;
    for (int r = 0; r < size_; ++r) {
      auto host = out[0][static_cast<size_t>(r)].cpu();
      const auto* p = reinterpret_cast<const char*>(host.data_ptr());
      result.emplace_back(p, static_cast<size_t>(lengths[static_cast<size_t>(r)]));
    }
    return result;
  }

 private:
  template <typename F>
  void run(F&& start) {
    try {
      start()->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error(describe_failure(e.what()));
    }
  }

  // Which processes are gone: every process that notices the failure checks in under a key of
  // its own; those that have not within a few seconds are named.
  std::string describe_failure(const std::string& what) {
    const auto detail = what.substr(0, what.find('\n'));
    if (!ops_.store) {
      return fmt::format("a collective of the {} processes failed: {}", size_, detail);
    }
    // The store's own warnings about the lost connections (with stack traces) say nothing more.
    FLAGS_caffe2_log_level = std::max(FLAGS_caffe2_log_level, 2);
    std::vector<int> silent;
    try {
      ops_.store->set(fmt::format("failure/{}", rank_), std::vector<uint8_t>{1});
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      for (;;) {
        silent.clear();
        for (int r = 0; r < size_; ++r) {
          if (r != rank_ && !ops_.store->check({fmt::format("failure/{}", r)})) silent.push_back(r);
        }
        if (silent.empty() || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(milliseconds(100));
      }
    } catch (const std::exception&) {
      // The store is gone with the process that held it.
      return fmt::format(
          "lost rank 0 of {} (it held the rendezvous store, which no longer answers); {}", size_,
          detail);
    }
    if (silent.empty()) {
      return fmt::format("a collective failed on every one of the {} processes: {}", size_, detail);
    }
    return fmt::format(
        "lost rank {} of {}: it no longer answers (died, hung for more than {} s, or "
        "unreachable); {}",
        fmt::join(silent, ", "), size_, ops_.timeout.count() / 1000, detail);
  }

  C10dOps ops_;
  int rank_, size_;
};

}  // namespace

std::shared_ptr<Collective> make_c10d_collective(C10dOps ops, int rank, int size) {
  return std::make_shared<C10dCollective>(std::move(ops), rank, size);
}

}  // namespace detail

bool launched_as_process_group() {
  const char* size = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  return size != nullptr && *size != '\0' && rank != nullptr && *rank != '\0';
}

std::shared_ptr<Collective> process_group_collective(
    const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  TORCH_CHECK(group, "process_group_collective needs a process group, got none");
  detail::C10dOps ops;
  ops.allreduce = [group](std::vector<at::Tensor>& t) { return group->allreduce(t); };
  ops.allgather = [group](std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in) {
    return group->allgather(out, in);
  };
  if (group->getBackendName() == "nccl") {
    // NCCL reduces on the GPU of this process: LOCAL_RANK's, as torchrun assigns them.
    const char* local = std::getenv("LOCAL_RANK");
    ops.device = torch::Device(torch::kCUDA, local != nullptr ? std::atoi(local) : 0);
  }
  return detail::make_c10d_collective(std::move(ops), group->getRank(), group->getSize());
}

}  // namespace boosthead
