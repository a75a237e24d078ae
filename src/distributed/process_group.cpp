// c10d's TCPStore and Gloo process group behind boosthead::Collective (distributed.h).

#include <boosthead/distributed.h>
#include <c10/util/Logging.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

namespace boosthead {
namespace {

using std::chrono::milliseconds;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

int64_t env_integer(const char* name, int64_t lo, int64_t hi) {
  const auto text = env(name);
  if (text.empty()) {
    throw std::invalid_argument(fmt::format(
        "environment variable {} is not set; launch the processes with torchrun (or set RANK, "
        "WORLD_SIZE, MASTER_ADDR and MASTER_PORT)",
        name));
  }
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v < lo || v > hi) {
    throw std::invalid_argument(
        fmt::format("environment variable {}='{}' is not an integer in "
                    "[{}, {}]",
                    name, text, lo, hi));
  }
  return v;
}

class ProcessGroupCollective final : public Collective {
 public:
  ProcessGroupCollective(c10::intrusive_ptr<c10d::Store> store,
                         c10::intrusive_ptr<c10d::Backend> group, int rank, int size,
                         milliseconds timeout)
      : store_(std::move(store)),
        group_(std::move(group)),
        rank_(rank),
        size_(size),
        timeout_(timeout) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }

 protected:
  void all_reduce_sum(double* values, size_t count) override {
    if (count == 0) return;
    std::vector<at::Tensor> t{
        torch::from_blob(values, {static_cast<int64_t>(count)}, torch::kDouble)};
    run([&] { return group_->allreduce(t); });
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
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < size_; ++r) out[0].push_back(torch::empty({longest}, torch::kUInt8));
    std::vector<at::Tensor> in{mine};
    run([&] { return group_->allgather(out, in); });
    std::vector<std::string> result;
    for (int r = 0; r < size_; ++r) {
      const auto* p = reinterpret_cast<const char*>(out[0][static_cast<size_t>(r)].data_ptr());
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
    // The store's own warnings about the lost connections (with stack traces) say nothing more.
    FLAGS_caffe2_log_level = std::max(FLAGS_caffe2_log_level, 2);
    std::vector<int> silent;
    try {
      store_->set(fmt::format("failure/{}", rank_), std::vector<uint8_t>{1});
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      for (;;) {
        silent.clear();
        for (int r = 0; r < size_; ++r) {
          if (r != rank_ && !store_->check({fmt::format("failure/{}", r)})) silent.push_back(r);
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
        "lost rank {} of {}: it no longer answers (died, hung for more than {} s, "
        "or unreachable); {}",
        fmt::join(silent, ", "), size_, timeout_.count() / 1000, detail);
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> group_;
  int rank_, size_;
  milliseconds timeout_;
};

}  // namespace

bool launched_as_process_group() { return !env("WORLD_SIZE").empty() && !env("RANK").empty(); }

std::vector<std::string> process_group_backends() { return {"gloo"}; }

std::shared_ptr<Collective> join_process_group(const ProcessGroupOptions& options) {
  const auto backend = options.backend() == "auto" ? std::string("gloo") : options.backend();
  const auto known = process_group_backends();
  if (std::find(known.begin(), known.end(), backend) == known.end()) {
    throw std::invalid_argument(
        fmt::format("process group backend '{}' is not in this build; "
                    "it has: {}",
                    options.backend(), fmt::join(known, ", ")));
  }
  if (!(options.timeout() > 0.0)) {
    throw std::invalid_argument(
        fmt::format("the process group timeout must be positive, got {} s", options.timeout()));
  }
  const int size = static_cast<int>(env_integer("WORLD_SIZE", 1, 1 << 20));
  const int rank = static_cast<int>(env_integer("RANK", 0, size - 1));
  const auto port = static_cast<uint16_t>(env_integer("MASTER_PORT", 1, 65535));
  auto host = env("MASTER_ADDR");
  if (host.empty()) host = "127.0.0.1";
  const milliseconds timeout(static_cast<int64_t>(options.timeout() * 1000.0));

  c10d::TCPStoreOptions so;
  so.port = port;
  // Under torchrun the agent holds the store; launched by hand, rank 0 does.
  const bool agent_store = env("TORCHELASTIC_USE_AGENT_STORE") == "True";
  so.isServer = !agent_store && rank == 0;
  so.numWorkers = agent_store ? std::nullopt : std::optional<size_t>(size);
  so.waitWorkers = false;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(host, so);
    store = c10::make_intrusive<c10d::PrefixStore>(
        fmt::format("boosthead/{}", env("TORCHELASTIC_RESTART_COUNT")), tcp);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw std::runtime_error(
        fmt::format("rank {} of {} cannot reach the rendezvous store at "
                    "{}:{}: {}",
                    rank, size, host, port, what.substr(0, what.find('\n'))));
  }
  auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
  const auto ifname = env("GLOO_SOCKET_IFNAME");
  gloo->devices.push_back(ifname.empty()
                              ? c10d::ProcessGroupGloo::createDefaultDevice()
                              : c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  c10::intrusive_ptr<c10d::Backend> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", store), rank, size, gloo);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw std::runtime_error(
        fmt::format("rank {} of {} could not connect to the others within "
                    "{} s: {}",
                    rank, size, options.timeout(), what.substr(0, what.find('\n'))));
  }
  return std::make_shared<ProcessGroupCollective>(store, group, rank, size, timeout);
}

}  // namespace boosthead
