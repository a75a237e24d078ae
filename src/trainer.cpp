#include <boosthead/loss.h>
#include <boosthead/stage_solver.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "checkpoint.h"
#include "fit_inputs.h"
#include "stage/evaluator.h"
#include "target_scale.h"

namespace boosthead {
namespace {

// Index of each row's highest score (the first of equal ones, as argmax), for contiguous rows.
template <typename T>
void row_argmax(const T* a, int64_t n, int64_t k, int64_t* out) {
  for (int64_t i = 0; i < n; ++i, a += k) {
    T best = a[0];
    int64_t arg = 0;
    for (int64_t c = 1; c < k; ++c) {
      const bool higher = a[c] > best;  // selects, not branches: scores are unpredictable
      best = higher ? a[c] : best;
      arg = higher ? c : arg;
    }
    out[i] = arg;
  }
}

bool host_scores(const torch::Tensor& f) {
  return f.device().is_cpu() && f.dim() == 2 && f.size(0) > 0 &&
         (f.scalar_type() == torch::kFloat || f.scalar_type() == torch::kDouble);
}

// Each row's highest-scoring column, on the host.
std::vector<int64_t> host_argmax(const torch::Tensor& f) {
  auto c = f.contiguous();
  std::vector<int64_t> out(static_cast<size_t>(c.size(0)));
  if (c.scalar_type() == torch::kFloat) {
    row_argmax(c.data_ptr<float>(), c.size(0), c.size(1), out.data());
  } else {
    row_argmax(c.data_ptr<double>(), c.size(0), c.size(1), out.data());
  }
  return out;
}

// Share of rows whose highest score is in column labels[i].
double share_at(const torch::Tensor& f, const std::vector<int64_t>& labels) {
  const auto arg = host_argmax(f);
  int64_t hits = 0;
  for (size_t i = 0; i < arg.size(); ++i) hits += arg[i] == labels[i];
  return static_cast<double>(hits) / static_cast<double>(arg.size());
}

// Metric from prepared (N x K) targets: accuracy for classification, RMSE for regression.
double metric(const std::string& loss, const torch::Tensor& f, const torch::Tensor& y) {
  if (loss == "binary_logistic") {
    return ((f > 0).to(y.scalar_type()) == y).to(torch::kDouble).mean().item<double>();
  }
  if (loss == "multinomial") {
    // LibTorch's argmax over a few columns costs about 0.1 ms per 4,000 rows on the CPU, every
    // stage; a host loop is some twenty times faster.
    if (host_scores(f) && host_scores(y)) return share_at(f, host_argmax(y));
    return (f.argmax(1) == y.argmax(1)).to(torch::kDouble).mean().item<double>();
  }
  return std::sqrt((f - y).pow(2).mean().item<double>());
}

// metric() for one set of targets and many scores: each row's class is worked out once.
class StageMetric {
 public:
  StageMetric(std::string loss, torch::Tensor y) : loss_(std::move(loss)), y_(std::move(y)) {
    if (loss_ == "multinomial" && y_.defined() && host_scores(y_)) labels_ = host_argmax(y_);
  }
  double operator()(const torch::Tensor& f) const {
    if (!labels_.empty() && host_scores(f)) return share_at(f, labels_);
    return metric(loss_, f, y_);
  }

 private:
  std::string loss_;
  torch::Tensor y_;
  std::vector<int64_t> labels_;
};

// Order-sensitive checksum of a tensor, to tell a checkpoint's data from other data.
double checksum(const torch::Tensor& t) {
  auto flat = t.reshape(-1).to(torch::kDouble);
  auto w = torch::arange(1, flat.numel() + 1, flat.options()).remainder(97).add(1);
  return flat.sum().item<double>() + (flat * w).sum().item<double>();
}

}  // namespace

void validate_options(const TrainerOptions& o) {
  if (o.stages() < 1)
    throw std::invalid_argument(fmt::format("stages must be at least 1, got {}", o.stages()));
  if (o.units_per_stage() < 0) {
    throw std::invalid_argument(fmt::format(
        "units_per_stage must be at least 1 (or 0 for auto), got {}", o.units_per_stage()));
  }
  if (!(o.shrinkage() > 0.0) || !std::isfinite(o.shrinkage())) {
    throw std::invalid_argument(fmt::format("shrinkage must be positive, got {}", o.shrinkage()));
  }
  if (!(o.subsample() > 0.0 && o.subsample() <= 1.0)) {
    throw std::invalid_argument(fmt::format("subsample must be in (0, 1], got {}", o.subsample()));
  }
  if (o.max_iter() < 1)
    throw std::invalid_argument(fmt::format("max_iter must be at least 1, got {}", o.max_iter()));
  if (!(o.l2() >= 0.0))
    throw std::invalid_argument(fmt::format("l2 must be non-negative, got {}", o.l2()));
  if (o.patience() < 0)
    throw std::invalid_argument(fmt::format("patience must be non-negative, got {}", o.patience()));
  if (!(o.valid_fraction() >= 0.0 && o.valid_fraction() < 1.0)) {
    throw std::invalid_argument(
        fmt::format("valid_fraction must be in [0, 1), got {}", o.valid_fraction()));
  }
  activation_from_name(o.activation());
  make_stage_solver(o.solver());
}

int64_t auto_units_per_stage(int64_t outputs) {
  return kAutoUnitsPerOutput * std::max<int64_t>(1, outputs);
}

TrainerOptions trainer_preset(const std::string& name) {
  if (name == "default") return {};
  if (name == "paper") {
    return TrainerOptions()
        .stages(200)
        .units_per_stage(1)
        .shrinkage(0.1)
        .subsample(0.5)
        .max_iter(200)
        .activation("sigmoid")
        .solver("lbfgs")
        .l2(1e-4)
        .valid_fraction(0.0)
        .patience(0)
        .standardize_targets(false);
  }
  throw std::invalid_argument(fmt::format("unknown preset '{}'; known presets: {}", name,
                                          fmt::join(trainer_presets(), ", ")));
}

std::vector<std::string> trainer_presets() { return {"default", "paper"}; }

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

double score_metric(const std::string& loss_name, const torch::Tensor& scores,
                    const torch::Tensor& targets) {
  auto loss = make_loss(loss_name);
  const int64_t k = scores.size(1);
  return metric(loss_name, scores,
                loss->prepare_targets(targets.to(scores.device()), k, scores.scalar_type()));
}

Trainer::Trainer(TrainerOptions options) : options_(std::move(options)) {}

Trainer& Trainer::add_callback(std::shared_ptr<Callback> callback) {
  TORCH_CHECK(callback, "add_callback needs a callback, got null");
  callbacks_.push_back(std::move(callback));
  return *this;
}

FitResult Trainer::fit(const torch::Tensor& features, const torch::Tensor& targets) {
  return run(features, targets, nullptr, nullptr);
}

FitResult Trainer::fit(const torch::Tensor& features, const torch::Tensor& targets,
                       const torch::Tensor& valid_features, const torch::Tensor& valid_targets) {
  return run(features, targets, &valid_features, &valid_targets);
}

FitResult Trainer::run(const torch::Tensor& features, const torch::Tensor& targets,
                       const torch::Tensor* valid_features, const torch::Tensor* valid_targets) {
  const auto start = detail::Clock::now();
  const auto& o = options_;
  validate_options(o);
  const Activation act = activation_from_name(o.activation());
  auto solver = make_stage_solver(o.solver());

  auto in = detail::prepare_fit_inputs(features, targets, valid_features, valid_targets,
                                       detail::fit_settings(o));
  torch::NoGradGuard no_grad;
  // Squared loss trains on standardised targets; the head is kept in the targets' units.
  const auto y_units = o.standardize_targets() && in.loss_name == "squared"
                           ? detail::TargetScale::fit(in.y)
                           : detail::TargetScale{};
  in.y = y_units.to_trained(in.y);
  if (in.has_valid()) in.y_valid = y_units.to_trained(in.y_valid);
  const std::string& loss_name = in.loss_name;
  const auto& loss = in.loss;
  const auto& opt = in.options;
  const torch::Device device = opt.device();
  const torch::ScalarType dtype = c10::typeMetaToScalarType(opt.dtype());
  const bool has_valid = in.has_valid();
  if (o.patience() > 0 && !has_valid) {
    // Early stopping watches the validation loss: without one, patience would do nothing.
    throw std::invalid_argument(fmt::format(
        "patience {} needs a validation set: set valid_fraction above 0 or pass validation data",
        o.patience()));
  }
  const int64_t k = in.outputs;
  const auto& x = in.x;
  const auto& y = in.y;
  const auto& xv = in.x_valid;
  const auto& yv = in.y_valid;
  const int64_t n = x.size(0), d = x.size(1);
  const int64_t j = o.units_per_stage() > 0 ? o.units_per_stage() : auto_units_per_stage(k);

  FitResult result;
  torch::Tensor f, fv;
  if (o.init_head()) {
    const auto& init = *o.init_head();
    if (init.num_features() != d || init.num_outputs() != k || init.loss() != loss_name) {
      throw std::invalid_argument(fmt::format(
          "cannot warm-start: the initial head has {} features, {} outputs and loss {}, but the "
          "data give {} features, {} outputs and loss {}",
          init.num_features(), init.num_outputs(), init.loss(), d, k, loss_name));
    }
    result.head = BoostedHead(d, init.units_per_stage(), init.activation(), loss_name,
                              init.initial_score.to(opt));
    result.head->set_tensors(init.tensors(), opt);
    f = y_units.to_trained(result.head->forward(x));
    if (has_valid) fv = y_units.to_trained(result.head->forward(xv));
  } else {
    auto f0 = loss->initial_score(y);
    result.head = BoostedHead(d, j, act, loss_name, y_units.bias_to_original(f0));
    f = f0.unsqueeze(0).expand({n, k}).clone();
    if (has_valid) fv = f0.unsqueeze(0).expand({xv.size(0), k}).clone();
  }
  auto& head = *result.head;
  const Activation stage_act = head.activation();
  const int64_t stage_units = head.units_per_stage();

  auto problem = StageProblem().activation(stage_act).max_iter(o.max_iter()).l2(o.l2());
  // Each new stage's output on all training (and validation) rows.
  auto train_rows = detail::make_stage_forward(x, stage_units, k, stage_act);
  auto valid_rows = has_valid ? detail::make_stage_forward(xv, stage_units, k, stage_act) : nullptr;
  auto stage_output = [&](const StageParams& p, bool valid) {
    return valid ? (*valid_rows)(p) : (*train_rows)(p);
  };
  std::mt19937_64 rng(o.seed());
  std::vector<int64_t> scratch;
  std::vector<char> drawn;
  const int64_t n_sub = std::max<int64_t>(1, static_cast<int64_t>(o.subsample() * n));
  auto rows = torch::empty({n_sub}, torch::kLong);  // each stage's subsample
  const StageMetric train_metric(loss_name, y), valid_metric(loss_name, yv);
  double train_loss = loss->value(f, y);
  torch::Tensor r_next;  // pseudo-residuals at f when already known
  torch::Tensor f_new;   // the next scores, written in place
  const int64_t first_stage = head.num_stages() + 1;
  const int64_t last_stage = head.num_stages() + o.stages();
  double elapsed_before = 0.0;

  const std::string fingerprint = fmt::format(
      "n={} d={} k={} units={} act={} loss={} solver={} eta={} subsample={} max_iter={} l2={} "
      "seed={} dtype={} valid={} x={:.17g} y={:.17g} init={} y_scale={:.17g}",
      n, d, k, stage_units, activation_name(stage_act), loss_name, o.solver(), o.shrinkage(),
      o.subsample(), o.max_iter(), o.l2(), o.seed(), c10::toString(dtype),
      has_valid ? xv.size(0) : 0, checksum(x), checksum(y), first_stage - 1, y_units.scale);
  std::vector<std::shared_ptr<Callback>> callbacks = callbacks_;
  std::shared_ptr<EarlyStopping> early;
  if (o.patience() > 0 && has_valid) {
    early = std::make_shared<EarlyStopping>(o.patience());
    callbacks.push_back(early);
  }
  int64_t stage = first_stage;
  if (!o.checkpoint().empty()) detail::remove_stale_temporaries(o.checkpoint());
  if (o.resume() && o.checkpoint().empty()) {
    throw std::invalid_argument("resume needs a checkpoint file");
  }
  if (o.resume() && std::ifstream(o.checkpoint()).good()) {
    auto st = detail::load_state(o.checkpoint());
    if (st.fingerprint != fingerprint) {
      throw std::invalid_argument(fmt::format(
          "checkpoint '{}' belongs to another fit (data or options differ): it has [{}], this fit "
          "has [{}]",
          o.checkpoint(), st.fingerprint, fingerprint));
    }
    head.set_tensors(st.head, opt);
    f = st.scores.to(opt);
    if (has_valid) fv = st.valid_scores.to(opt);
    train_loss = st.train_loss;
    std::istringstream(st.rng) >> rng;
    result.history = st.history;
    result.stages_resumed = static_cast<int64_t>(st.history.size());
    elapsed_before = st.elapsed;
    stage = first_stage + result.stages_resumed;
    // Early stopping resumes where it was: replay the records it has seen.
    if (early) {
      for (const auto& rec : result.history) early->on_stage_end(rec, head);
    }
  } else {
    result.stages_resumed = first_stage - 1;
  }
  for (auto& cb : callbacks) cb->on_train_begin(last_stage);

  std::string reason = "completed";
  if (early && early->stopped()) {
    reason = "early_stopping";
    stage = last_stage + 1;
  }
  for (; stage <= last_stage; ++stage) {
    // The residuals at f come with the loss of the last accepted step.
    auto r = r_next.defined() ? r_next : loss->pseudo_residuals(f, y);
    r_next = torch::Tensor();
    torch::Tensor idx;  // the stage's rows; all when undefined
    if (n_sub < n) {
      detail::sample_without_replacement(n, n_sub, rng, scratch, drawn, rows.data_ptr<int64_t>());
      idx = rows.to(device);
    }
    StageParams params;
    SolverReport report;
    torch::Tensor h;
    double rho = 0.0;
    // A stage whose fit is not finite is drawn again from a fresh start once before giving up.
    for (int attempt = 0; attempt < 2; ++attempt) {
      params = detail::glorot_init(rng, d, stage_units, k, stage_act, opt);
      report = idx.defined() ? solver->fit_rows(x, r, idx, problem, params)
                             : solver->fit(x, r, problem, params);
      h = stage_output(params, false);
      if (detail::all_finite(params.w1) && detail::all_finite(params.b1) &&
          detail::all_finite(params.w2) && detail::all_finite(params.b2) && detail::all_finite(h)) {
        rho = loss->newton_step(f, y, h, r);
        break;
      }
    }
    double step = o.shrinkage() * rho;
    double new_loss = train_loss;
    bool accepted = false;
    // The candidate scores go into a second buffer, swapped with f when accepted: a fresh
    // N x K tensor per try cost more than the addition.
    if (!f_new.defined() || f_new.sizes() != f.sizes()) f_new = torch::empty_like(f);
    // A Newton step can overshoot on the logistic losses; halve it until the loss decreases.
    for (int tries = 0; tries < 30 && step != 0.0 && std::isfinite(step); ++tries) {
      torch::add_out(f_new, f, h, step);
      std::tie(new_loss, r_next) = loss->value_and_residuals(f_new, y);
      if (std::isfinite(new_loss) && new_loss <= train_loss) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      reason = "no_progress";
      break;
    }
    std::swap(f, f_new);
    train_loss = new_loss;
    head.append_stage(y_units.stage_to_original(params), step);

    StageRecord rec;
    rec.stage = stage;
    // Records are in the targets' units (the scale is 1 for classes).
    rec.train_loss = y_units.loss_to_original(train_loss);
    rec.train_metric = y_units.rmse_to_original(train_metric(f));
    if (has_valid) {
      fv.add_(stage_output(params, true), step);
      rec.valid_loss = y_units.loss_to_original(loss->value(fv, yv));
      rec.valid_metric = y_units.rmse_to_original(valid_metric(fv));
    }
    rec.rho = rho;
    rec.solver_iterations = report.iterations;
    rec.seconds = elapsed_before + detail::seconds_since(start);
    result.history.push_back(rec);

    if (!o.checkpoint().empty()) {
      detail::TrainerState st;
      st.fingerprint = fingerprint;
      st.head = head.tensors();
      st.scores = f;
      st.valid_scores = fv;
      st.train_loss = train_loss;
      st.elapsed = rec.seconds;
      std::ostringstream rng_state;
      rng_state << rng;
      st.rng = rng_state.str();
      st.history = result.history;
      detail::save_state(o.checkpoint(), st);
    }

    bool stop = false;
    for (auto& cb : callbacks) {
      if (!cb->on_stage_end(rec, head)) {
        stop = true;
        reason = cb == early ? "early_stopping" : "callback";
      }
    }
    if (stop) break;
  }

  result.stages_trained = head.num_stages();
  result.best_stages = result.stages_trained;
  if (has_valid && !result.history.empty() && result.history.front().valid_loss) {
    auto best = std::min_element(
        result.history.begin(), result.history.end(),
        [](const StageRecord& a, const StageRecord& b) { return *a.valid_loss < *b.valid_loss; });
    result.best_stages = best->stage;
    if (o.keep_best() && result.best_stages < result.stages_trained) {
      head.truncate(result.best_stages);
    }
  }
  result.stop_reason = reason;
  result.target_shift = y_units.shift;
  result.target_scale = y_units.scale;
  for (auto& cb : callbacks) cb->on_train_end(reason);
  result.fit_seconds = elapsed_before + detail::seconds_since(start);
  return result;
}

}  // namespace boosthead
