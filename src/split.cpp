#include <boosthead/split.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>
#include <vector>

#include "util/random.h"

namespace boosthead {

std::pair<torch::Tensor, torch::Tensor> split_indices(int64_t n, double fraction, uint64_t seed,
                                                      const torch::Tensor& labels) {
  if (!(fraction > 0.0 && fraction < 1.0)) {
    throw std::invalid_argument(
        fmt::format("validation fraction must be in (0, 1), got {}", fraction));
  }
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::map<int64_t, std::vector<int64_t>> groups;
  if (labels.defined()) {
    auto l = labels.to(torch::kCPU, torch::kLong).contiguous();
    const auto* p = l.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) groups[p[i]].push_back(i);
  } else {
    auto& all = groups[0];
    for (int64_t i = 0; i < n; ++i) all.push_back(i);
  }
  std::vector<int64_t> train, valid;
  for (auto& kv : groups) {
    auto& idx = kv.second;
    detail::shuffle(idx, rng);
    const auto take = static_cast<int64_t>(std::llround(fraction * idx.size()));
    valid.insert(valid.end(), idx.begin(), idx.begin() + take);
    train.insert(train.end(), idx.begin() + take, idx.end());
  }
  if (valid.empty() || train.size() < 2) {
    throw std::invalid_argument(fmt::format(
        "too few rows for a validation split: {} rows with fraction {} give {} training and {} "
        "validation rows",
        n, fraction, train.size(), valid.size()));
  }
  std::sort(train.begin(), train.end());
  std::sort(valid.begin(), valid.end());
  return {torch::tensor(train, torch::kLong), torch::tensor(valid, torch::kLong)};
}

}  // namespace boosthead
