#include "data_parallel.h"

#include <fmt/format.h>

#include <stdexcept>

namespace boosthead::detail {
namespace {

std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

RowShare::RowShare(Collective* collective, int64_t rows)
    : collective_(collective), rows_(rows), total_(rows) {
  if (collective_ == nullptr) return;
  const auto counts = collective_->all_gather(std::to_string(rows));
  total_ = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    const int64_t c = std::stoll(counts[r]);
    if (static_cast<int>(r) < collective_->rank()) first_ += c;
    total_ += c;
  }
}

void RowShare::sum(std::vector<double>& values) const { sum_across(collective_, values); }

double RowShare::sum(double value) const {
  return collective_ == nullptr ? value : collective_->sum(value);
}

std::pair<double, double> RowShare::sum(std::pair<double, double> values) const {
  if (collective_ == nullptr) return values;
  std::vector<double> v{values.first, values.second};
  collective_->all_reduce_sum(v);
  return {v[0], v[1]};
}

double RowShare::mean(double local_mean) const {
  if (collective_ == nullptr) return local_mean;
  return collective_->sum(local_mean * static_cast<double>(rows_)) / static_cast<double>(total_);
}

torch::Tensor RowShare::column_means(const torch::Tensor& y) const {
  if (collective_ == nullptr) return y.mean(0, false, torch::kDouble);
  auto local = y.sum(0, false, torch::kDouble).cpu().contiguous();
  std::vector<double> v(local.data_ptr<double>(), local.data_ptr<double>() + local.numel());
  collective_->all_reduce_sum(v);
  return (torch::tensor(v, torch::kDouble) / static_cast<double>(total_)).to(y.device());
}

bool RowShare::any(bool flag) const {
  return collective_ == nullptr ? flag : collective_->sum(flag ? 1.0 : 0.0) > 0.0;
}

data::Standardizer fit_standardizer(const torch::Tensor& x, Collective* collective) {
  if (collective == nullptr) return data::Standardizer::fit(x);
  const RowShare share(collective, x.size(0));
  auto x64 = x.to(torch::kCPU, torch::kDouble);
  data::Standardizer s;
  s.mean = share.column_means(x64);
  auto squares = (x64 - s.mean).pow(2).sum(0).contiguous();
  std::vector<double> v(squares.data_ptr<double>(), squares.data_ptr<double>() + squares.numel());
  share.sum(v);
  auto sd = (torch::tensor(v, torch::kDouble) / static_cast<double>(share.total_rows())).sqrt();
  // The rule of Standardizer::fit: constant columns keep scale 1.
  s.scale = torch::where(sd > 1e-12 * (1 + s.mean.abs()), sd, torch::ones_like(sd));
  return s;
}

void stage_subsample(uint64_t seed, int64_t stage, int64_t first_row, int64_t rows, double fraction,
                     std::vector<int64_t>& out) {
  out.clear();
  const uint64_t key = mix64(mix64(seed ^ 0x6a09e667f3bcc909ULL) ^ static_cast<uint64_t>(stage));
  for (int64_t i = 0; i < rows; ++i) {
    const uint64_t u = mix64(key ^ mix64(static_cast<uint64_t>(first_row + i)));
    if (static_cast<double>(u >> 11) * 0x1.0p-53 < fraction) out.push_back(i);
  }
}

void raise_if_any(Collective* collective, const std::exception_ptr& error) {
  if (collective == nullptr) {
    if (error) std::rethrow_exception(error);
    return;
  }
  const auto messages = collective->all_gather(error ? "1" + message_of(error) : "0");
  for (size_t r = 0; r < messages.size(); ++r) {
    if (messages[r][0] == '1') {
      if (error && static_cast<int>(r) == collective->rank()) std::rethrow_exception(error);
      throw std::invalid_argument(
          fmt::format("process {} of {}: {}", r, messages.size(), messages[r].substr(1)));
    }
  }
}

}  // namespace boosthead::detail
