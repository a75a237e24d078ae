#include "checkpoint.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "torchscript_head.h"

namespace boosthead::detail {
namespace {

constexpr const char* kKind = "boosthead-checkpoint-1";

torch::Tensor history_tensor(const std::vector<StageRecord>& h) {
  auto t = torch::empty({static_cast<int64_t>(h.size()), 9}, torch::kDouble);
  auto* p = t.data_ptr<double>();
  for (const auto& r : h) {
    *p++ = static_cast<double>(r.stage);
    *p++ = r.train_loss;
    *p++ = r.valid_loss ? 1.0 : 0.0;
    *p++ = r.valid_loss.value_or(0.0);
    *p++ = r.train_metric;
    *p++ = r.valid_metric.value_or(0.0);
    *p++ = r.rho;
    *p++ = static_cast<double>(r.solver_iterations);
    *p++ = r.seconds;
  }
  return t;
}

std::vector<StageRecord> history_from(const torch::Tensor& t) {
  std::vector<StageRecord> h;
  auto c = t.to(torch::kDouble).contiguous();
  const auto* p = c.data_ptr<double>();
  for (int64_t i = 0; i < c.size(0); ++i, p += 9) {
    StageRecord r;
    r.stage = static_cast<int64_t>(p[0]);
    r.train_loss = p[1];
    if (p[2] != 0.0) {
      r.valid_loss = p[3];
      r.valid_metric = p[5];
    }
    r.train_metric = p[4];
    r.rho = p[6];
    r.solver_iterations = static_cast<int64_t>(p[7]);
    r.seconds = p[8];
    h.push_back(r);
  }
  return h;
}

}  // namespace

void save_state(const std::string& path, const TrainerState& s) {
  torch::serialize::OutputArchive a;
  a.write("kind", c10::IValue(std::string(kKind)));
  a.write("fingerprint", c10::IValue(s.fingerprint));
  a.write("rng", c10::IValue(s.rng));
  a.write("train_loss", c10::IValue(s.train_loss));
  a.write("elapsed", c10::IValue(s.elapsed));
  s.head.for_each([&](const char* name, const torch::Tensor& t) { a.write(name, t.cpu()); });
  a.write("scores", s.scores.cpu());
  a.write("has_valid", c10::IValue(s.valid_scores.defined()));
  if (s.valid_scores.defined()) a.write("valid_scores", s.valid_scores.cpu());
  a.write("history", history_tensor(s.history));

  io::write_atomically(path, "checkpoint", [&](const std::string& tmp) { a.save_to(tmp); });
}

TrainerState load_state(const std::string& path) {
  torch::serialize::InputArchive a;
  try {
    a.load_from(path);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw std::invalid_argument(
        fmt::format("checkpoint '{}' is not readable ({})", path, what.substr(0, what.find('\n'))));
  }
  try {
    c10::IValue v;
    a.read("kind", v);
    if (!v.isString() || v.toStringRef() != kKind) {
      throw std::invalid_argument(fmt::format("'{}' is not a boosthead checkpoint", path));
    }
    TrainerState s;
    a.read("fingerprint", v);
    s.fingerprint = v.toStringRef();
    a.read("rng", v);
    s.rng = v.toStringRef();
    a.read("train_loss", v);
    s.train_loss = v.toDouble();
    a.read("elapsed", v);
    s.elapsed = v.toDouble();
    s.head.for_each([&](const char* name, torch::Tensor& t) { a.read(name, t); });
    a.read("scores", s.scores);
    a.read("has_valid", v);
    if (v.toBool()) a.read("valid_scores", s.valid_scores);
    torch::Tensor h;
    a.read("history", h);
    s.history = history_from(h);
    return s;
  } catch (const c10::Error& e) {
    throw std::invalid_argument(fmt::format("checkpoint '{}' is incomplete or corrupt ({})", path,
                                            e.what_without_backtrace()));
  }
}

}  // namespace boosthead::detail
