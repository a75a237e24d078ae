// join_process_group() (distributed.h): c10d's TCPStore and Gloo process group, from torchrun's
// environment.

#include <boosthead/distributed.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "c10d_collective.h"

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

}  // namespace

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
  detail::C10dOps ops;
  ops.allreduce = [group](std::vector<at::Tensor>& t) { return group->allreduce(t); };
  ops.allgather = [group](std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in) {
    return group->allgather(out, in);
  };
  ops.store = store;
  ops.timeout = timeout;
  return detail::make_c10d_collective(std::move(ops), rank, size);
}

}  // namespace boosthead
