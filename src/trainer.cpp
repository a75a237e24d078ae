#include <boosthead/loss.h>
#include <boosthead/stage_solver.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "checkpoint.h"
#include "data_parallel.h"
#include "fit_inputs.h"
#include "io/atomic_file.h"
#include "metric.h"
#include "stage/evaluator.h"
#include "target_scale.h"

namespace boosthead {
namespace {

// A checksum of rows, to tell a checkpoint's data from other data: the sum modulo 2^64 of a
// hash of each value and its global position, so the same for the whole data and for the sum
// over its shares however they are split. Values are hashed at 15 bits of precision: data
// standardised with statistics summed in another order differs in its last bits.
template <typename T>
uint64_t hash_values(const T* p, int64_t count, uint64_t first) {
  uint64_t sum = 0;
  for (int64_t i = 0; i < count; ++i) {
    const auto f = static_cast<float>(p[i]);
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof(bits));
    bits = (bits + 0x80u) & ~0xffu;
    sum += detail::mix64(detail::mix64(first + static_cast<uint64_t>(i)) ^ bits);
  }
  return sum;
}

uint64_t checksum(const torch::Tensor& t, const detail::RowShare& share) {
  auto c = t.cpu().contiguous();
  const auto first =
      static_cast<uint64_t>(share.first_row() * (t.numel() / std::max<int64_t>(1, t.size(0))));
  const uint64_t local =
      c.scalar_type() == torch::kFloat
          ? hash_values(c.data_ptr<float>(), c.numel(), first)
          : hash_values(c.to(torch::kDouble).data_ptr<double>(), c.numel(), first);
  // Added up exactly in float64 as four 16-bit parts.
  std::vector<double> parts(4);
  for (int q = 0; q < 4; ++q) parts[q] = static_cast<double>((local >> (16 * q)) & 0xffff);
  share.sum(parts);
  uint64_t total = 0;
  for (int q = 0; q < 4; ++q) total += static_cast<uint64_t>(parts[q]) << (16 * q);
  return total;
}

// A stage fitted to the pseudo-residuals: its weights, its output h on every training row, and
// the Newton step along h.
struct FittedStage {
  StageParams params;
  SolverReport report;
  torch::Tensor h;
  double rho = 0.0;
};

// The state of a fit between stages (the scores, their loss, the generator of each stage's
// initial weights) with one method per step of the algorithm; every sum over rows goes through
// the row shares, so the steps read the same on one process and on many.
class Boosting {
 public:
  struct Problem {
    const torch::Tensor &x, &y, &x_valid, &y_valid;
    const Loss& loss;
    StageSolver& solver;
    StageProblem stage;
    const detail::RowShare &share, &valid_share;
    const detail::TargetScale& y_units;
    uint64_t seed;
    double subsample;
  };

  Boosting(Problem p, BoostedHeadImpl& head, torch::Tensor f, torch::Tensor fv)
      : p_(std::move(p)),
        head_(head),
        train_rows_(detail::make_stage_forward(p_.x, head.units_per_stage(), head.num_outputs(),
                                               head.activation())),
        valid_rows_(p_.x_valid.defined()
                        ? detail::make_stage_forward(p_.x_valid, head.units_per_stage(),
                                                     head.num_outputs(), head.activation())
                        : nullptr),
        train_metric_(p_.loss.name(), p_.y, &p_.share),
        valid_metric_(p_.loss.name(), p_.y_valid, &p_.valid_share),
        f_(std::move(f)),
        fv_(std::move(fv)),
        rng_(p_.seed) {
    train_loss_ = p_.share.mean(p_.loss.value(f_, p_.y));
  }

  // Continues from a checkpoint: its scores (or, across processes, each process's own,
  // recomputed from the head), loss and generator.
  void restore(const detail::TrainerState& st, const torch::TensorOptions& opt) {
    if (p_.share.shared()) {
      // The checkpoint holds the scores of rank 0's rows only: each process recomputes its own,
      // whatever the number of processes that wrote it.
      f_ = p_.y_units.to_trained(head_.forward(p_.x));
      if (fv_.defined()) fv_ = p_.y_units.to_trained(head_.forward(p_.x_valid));
    } else {
      f_ = st.scores.to(opt);
      if (fv_.defined()) fv_ = st.valid_scores.to(opt);
    }
    train_loss_ = st.train_loss;
    std::istringstream(st.rng) >> rng_;
  }

  // The state to save after a stage.
  detail::TrainerState snapshot() const {
    detail::TrainerState st;
    st.head = head_.tensors();
    st.scores = f_;
    st.valid_scores = fv_;
    st.train_loss = train_loss_;
    std::ostringstream rng_state;
    rng_state << rng_;
    st.rng = rng_state.str();
    return st;
  }

  // 1. The pseudo-residuals at the scores (computed with the loss of the last accepted step).
  torch::Tensor residuals() {
    auto r = r_next_.defined() ? r_next_ : p_.loss.pseudo_residuals(f_, p_.y);
    r_next_ = torch::Tensor();
    return r;
  }

  // 2. The stage's rows; undefined: all.
  torch::Tensor subsample(int64_t stage) {
    if (p_.subsample >= 1.0) return {};
    detail::stage_subsample(p_.seed, stage, p_.share.first_row(), p_.x.size(0), p_.subsample,
                            drawn_);
    // A subsample with no rows at all (only possible on tiny data) fits on every row.
    if (p_.share.sum(static_cast<double>(drawn_.size())) == 0.0) return {};
    return torch::tensor(drawn_, torch::kLong).to(p_.x.device());
  }

  // 3. A stage fitted to r on those rows, and the Newton step along its output. A stage whose
  // fit is not finite is drawn again from a fresh start once before giving up (rho 0).
  FittedStage fit_stage(const torch::Tensor& r, const torch::Tensor& rows) {
    FittedStage s;
    for (int attempt = 0; attempt < 2; ++attempt) {
      s.params = detail::glorot_init(rng_, p_.x.size(1), head_.units_per_stage(),
                                     head_.num_outputs(), head_.activation(), p_.x.options());
      s.report = rows.defined() ? p_.solver.fit_rows(p_.x, r, rows, p_.stage, s.params)
                                : p_.solver.fit(p_.x, r, p_.stage, s.params);
      s.h = (*train_rows_)(s.params);
      const bool finite = detail::all_finite(s.params.w1) && detail::all_finite(s.params.b1) &&
                          detail::all_finite(s.params.w2) && detail::all_finite(s.params.b2) &&
                          detail::all_finite(s.h);
      if (p_.share.any(!finite)) continue;
      if (p_.share.shared()) {
        const auto [num, den] = p_.share.sum(p_.loss.newton_sums(f_, p_.y, s.h, r));
        s.rho = newton_ratio(num, den);
      } else {
        s.rho = p_.loss.newton_step(f_, p_.y, s.h, r);
      }
      break;
    }
    return s;
  }

  // 4. The step: `step` (shrinkage x rho), halved until the loss does not increase (a Newton
  // step can overshoot on the logistic losses); none when no step of 30 lowers it.
  std::optional<double> line_search(const FittedStage& s, double step) {
    // The candidate scores go into a second buffer, swapped with f when accepted: a fresh
    // N x K tensor per try cost more than the addition.
    if (!f_new_.defined() || f_new_.sizes() != f_.sizes()) f_new_ = torch::empty_like(f_);
    for (int tries = 0; tries < 30 && step != 0.0 && std::isfinite(step); ++tries) {
      torch::add_out(f_new_, f_, s.h, step);
      std::tie(new_loss_, r_next_) = p_.loss.value_and_residuals(f_new_, p_.y);
      new_loss_ = p_.share.mean(new_loss_);
      if (std::isfinite(new_loss_) && new_loss_ <= train_loss_) return step;
      step *= 0.5;
    }
    r_next_ = torch::Tensor();
    return std::nullopt;
  }

  // 5. Adds the stage with the step found to the head and the scores; returns its record, in
  // the targets' units (the scale is 1 for classes).
  StageRecord accept(int64_t stage, const FittedStage& s, double step) {
    std::swap(f_, f_new_);
    train_loss_ = new_loss_;
    head_.append_stage(p_.y_units.stage_to_original(s.params), step);
    StageRecord rec;
    rec.stage = stage;
    rec.train_loss = p_.y_units.loss_to_original(train_loss_);
    rec.train_metric = p_.y_units.rmse_to_original(train_metric_(f_));
    if (fv_.defined()) {
      fv_.add_((*valid_rows_)(s.params), step);
      rec.valid_loss =
          p_.y_units.loss_to_original(p_.valid_share.mean(p_.loss.value(fv_, p_.y_valid)));
      rec.valid_metric = p_.y_units.rmse_to_original(valid_metric_(fv_));
    }
    rec.rho = s.rho;
    rec.solver_iterations = s.report.iterations;
    return rec;
  }

 private:
  Problem p_;
  BoostedHeadImpl& head_;
  // Each new stage's output on all training (and validation) rows.
  std::unique_ptr<detail::StageForward> train_rows_, valid_rows_;
  detail::StageMetric train_metric_, valid_metric_;
  torch::Tensor f_, fv_;     // the scores on the training and validation rows
  double train_loss_ = 0.0;  // the loss at f_
  std::mt19937_64 rng_;      // each stage's initial weights
  torch::Tensor r_next_;     // pseudo-residuals at f_ when already known
  torch::Tensor f_new_;      // the candidate scores, written in place
  double new_loss_ = 0.0;    // the loss at f_new_
  std::vector<int64_t> drawn_;
};

}  // namespace

double score_metric(const std::string& loss_name, const torch::Tensor& scores,
                    const torch::Tensor& targets) {
  auto loss = make_loss(loss_name);
  const int64_t k = scores.size(1);
  return detail::metric_sums(
             loss_name, scores,
             loss->prepare_targets(targets.to(scores.device()), k, scores.scalar_type()))
      .value();
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

namespace {

// Checks the data-parallel rules, agrees on the classes across processes and prepares the
// inputs (fit_inputs.h): the same encoding on every process.
detail::FitInputs prepare_inputs(const TrainerOptions& o, Collective* comm,
                                 const torch::Tensor& features, const torch::Tensor& targets,
                                 const torch::Tensor* valid_features,
                                 const torch::Tensor* valid_targets) {
  if (comm != nullptr && o.valid_fraction() > 0.0) {
    throw std::invalid_argument(
        "valid_fraction splits one process's rows; a data-parallel fit takes validation rows "
        "given to each process instead");
  }
  // Every process encodes the same classes: the count comes from the largest label anywhere.
  auto settings = detail::fit_settings(o);
  if (comm != nullptr && settings.num_classes == 0 && targets.defined() &&
      !targets.is_floating_point()) {
    const auto top = comm->all_gather(std::to_string(
        targets.numel() > 0 && targets.dim() == 1 ? targets.max().item<int64_t>() : -1));
    for (const auto& t : top) {
      settings.num_classes = std::max<int64_t>(settings.num_classes, std::stoll(t) + 1);
    }
    settings.num_classes = std::max<int64_t>(settings.num_classes, 2);
  }
  auto in = detail::agreed(comm, [&] {
    return detail::prepare_fit_inputs(features, targets, valid_features, valid_targets, settings);
  });
  const double with_valid = comm != nullptr ? comm->sum(in.has_valid() ? 1.0 : 0.0) : 0.0;
  if (with_valid != 0.0 && with_valid != static_cast<double>(comm->size())) {
    throw std::invalid_argument(
        "some processes were given validation rows and some not: give each process its share");
  }
  if (o.patience() > 0 && !in.has_valid()) {
    // Early stopping watches the validation loss: without one, patience would do nothing.
    throw std::invalid_argument(fmt::format(
        "patience {} needs a validation set: set valid_fraction above 0 or pass validation data",
        o.patience()));
  }
  return in;
}

// The head a fit starts from, with the scores of the training and validation rows (in trained
// units): a copy of init_head for a warm start, else F0 alone.
std::tuple<BoostedHead, torch::Tensor, torch::Tensor> start_head(const TrainerOptions& o,
                                                                 const detail::FitInputs& in,
                                                                 const detail::TargetScale& y_units,
                                                                 const detail::RowShare& share) {
  const auto& x = in.x;
  const auto& opt = in.options;
  const int64_t n = x.size(0), d = x.size(1), k = in.outputs;
  if (o.init_head()) {
    const auto& init = *o.init_head();
    if (init.num_features() != d || init.num_outputs() != k || init.loss() != in.loss_name) {
      throw std::invalid_argument(fmt::format(
          "cannot warm-start: the initial head has {} features, {} outputs and loss {}, but the "
          "data give {} features, {} outputs and loss {}",
          init.num_features(), init.num_outputs(), init.loss(), d, k, in.loss_name));
    }
    BoostedHead head(d, init.units_per_stage(), init.activation(), in.loss_name,
                     init.initial_score.to(opt));
    head->set_tensors(init.tensors(), opt);
    auto f = y_units.to_trained(head->forward(x));
    auto fv = in.has_valid() ? y_units.to_trained(head->forward(in.x_valid)) : torch::Tensor();
    return {head, f, fv};
  }
  // F0 of the built-in losses depends on the targets' column means only, which processes
  // holding shares of the rows agree on.
  auto f0 = share.shared() ? in.loss->initial_score(share.column_means(in.y).to(opt).unsqueeze(0))
                           : in.loss->initial_score(in.y);
  const int64_t j = o.units_per_stage() > 0 ? o.units_per_stage() : auto_units_per_stage(k);
  BoostedHead head(d, j, activation_from_name(o.activation()), in.loss_name,
                   y_units.bias_to_original(f0));
  auto f = f0.unsqueeze(0).expand({n, k}).clone();
  auto fv =
      in.has_valid() ? f0.unsqueeze(0).expand({in.x_valid.size(0), k}).clone() : torch::Tensor();
  return {head, f, fv};
}

// What a checkpoint must match to be continued: the data, the resolved head and every option
// that changes the stages (the option table's fingerprinted ones).
std::string fingerprint_of(const TrainerOptions& o, const detail::FitInputs& in,
                           const detail::RowShare& share, const detail::RowShare& valid_share,
                           const BoostedHeadImpl& head, const detail::TargetScale& y_units,
                           uint64_t y_checksum) {
  return fmt::format(
      "n={} d={} k={} units={} act={} loss={} dtype={} valid={} x={:016x} y={:016x} init={} "
      "standardize_y={} {}",
      share.total_rows(), in.x.size(1), in.outputs, head.units_per_stage(),
      activation_name(head.activation()), in.loss_name,
      c10::toString(c10::typeMetaToScalarType(in.options.dtype())), valid_share.total_rows(),
      checksum(in.x, share), y_checksum, head.num_stages(), !y_units.identity(),
      fingerprinted_options(o));
}

// Continues from the checkpoint when resuming and it exists: the head, the boosting state, the
// history and the seconds already spent; early stopping replays the records it had seen.
// Returns those seconds (0 for a fresh fit).
double resume_from_checkpoint(const TrainerOptions& o, const detail::RowShare& share,
                              const std::string& fingerprint, const torch::TensorOptions& opt,
                              Boosting& boosting, BoostedHeadImpl& head, FitResult& result,
                              EarlyStopping* early) {
  const int64_t stages_before = head.num_stages();
  result.stages_resumed = stages_before;
  if (o.resume() && o.checkpoint().empty()) {
    throw std::invalid_argument("resume needs a checkpoint file");
  }
  const bool found = o.resume() && std::ifstream(o.checkpoint()).good();
  if (o.resume() && share.any(found) != found) {
    throw std::invalid_argument(fmt::format(
        "checkpoint '{}' exists for some processes only: resuming needs it on a file system "
        "that all processes see",
        o.checkpoint()));
  }
  if (!found) return 0.0;
  auto st = detail::load_state(o.checkpoint());
  if (st.fingerprint != fingerprint) {
    throw std::invalid_argument(fmt::format(
        "checkpoint '{}' belongs to another fit (data or options differ): it has [{}], this fit "
        "has [{}]",
        o.checkpoint(), st.fingerprint, fingerprint));
  }
  head.set_tensors(st.head, opt);
  boosting.restore(st, opt);
  result.history = st.history;
  result.stages_resumed = static_cast<int64_t>(st.history.size());
  if (early != nullptr) {
    for (const auto& rec : result.history) early->on_stage_end(rec, head);
  }
  return st.elapsed;
}

// With validation: the stage count of lowest validation loss, and the head cut to it when
// keep_best asks.
void choose_best_stages(FitResult& result, bool keep_best) {
  auto& head = *result.head;
  result.stages_trained = head.num_stages();
  result.best_stages = result.stages_trained;
  if (result.history.empty() || !result.history.front().valid_loss) return;
  auto best = std::min_element(
      result.history.begin(), result.history.end(),
      [](const StageRecord& a, const StageRecord& b) { return *a.valid_loss < *b.valid_loss; });
  result.best_stages = best->stage;
  if (keep_best && result.best_stages < result.stages_trained) head.truncate(result.best_stages);
}

}  // namespace

FitResult Trainer::run(const torch::Tensor& features, const torch::Tensor& targets,
                       const torch::Tensor* valid_features, const torch::Tensor* valid_targets) {
  const auto start = detail::Clock::now();
  const auto& o = options_;
  validate_options(o);
  Collective* comm = o.collective().get();
  const bool rank0 = comm == nullptr || comm->rank() == 0;
  auto solver = make_stage_solver(o.solver());
  auto in = prepare_inputs(o, comm, features, targets, valid_features, valid_targets);
  torch::NoGradGuard no_grad;
  const detail::RowShare share(comm, in.x.size(0));
  const detail::RowShare valid_share(comm, in.has_valid() ? in.x_valid.size(0) : 0);
  // Squared loss trains on standardised targets; the head is kept in the targets' units.
  const auto y_units = o.standardize_targets() && in.loss_name == "squared"
                           ? detail::TargetScale::fit(in.y, share)
                           : detail::TargetScale{};
  // The checkpoint's fingerprint reads every value: only computed when there is a checkpoint.
  const bool checkpointing = !o.checkpoint().empty();
  const uint64_t y_checksum = checkpointing ? checksum(in.y, share) : 0;
  in.y = y_units.to_trained(in.y);
  if (in.has_valid()) in.y_valid = y_units.to_trained(in.y_valid);

  FitResult result;
  torch::Tensor f, fv;
  std::tie(result.head, f, fv) = start_head(o, in, y_units, share);
  auto& head = *result.head;
  Boosting boosting({in.x, in.y, in.x_valid, in.y_valid, *in.loss, *solver,
                     StageProblem()
                         .activation(head.activation())
                         .max_iter(o.max_iter())
                         .l2(o.l2())
                         .collective(o.collective()),
                     share, valid_share, y_units, o.seed(), o.subsample()},
                    head, f, fv);
  const int64_t last_stage = head.num_stages() + o.stages();
  const std::string fingerprint =
      checkpointing ? fingerprint_of(o, in, share, valid_share, head, y_units, y_checksum) : "";

  std::vector<std::shared_ptr<Callback>> callbacks = callbacks_;
  std::shared_ptr<EarlyStopping> early;
  if (o.patience() > 0) {
    early = std::make_shared<EarlyStopping>(o.patience());
    callbacks.push_back(early);
  }
  if (checkpointing && rank0) io::remove_stale_temporaries(o.checkpoint());
  const double elapsed_before = resume_from_checkpoint(o, share, fingerprint, in.options, boosting,
                                                       head, result, early.get());
  int64_t stage = head.num_stages() + 1;
  for (auto& cb : callbacks) cb->on_train_begin(last_stage);

  std::string reason = "completed";
  if (early && early->stopped()) {
    reason = "early_stopping";
    stage = last_stage + 1;
  }
  // The algorithm, stage by stage (README, "What it does").
  for (; stage <= last_stage; ++stage) {
    const auto r = boosting.residuals();
    const auto rows = boosting.subsample(stage);
    const auto fitted = boosting.fit_stage(r, rows);
    const auto step = boosting.line_search(fitted, o.shrinkage() * fitted.rho);
    if (!step) {
      reason = "no_progress";
      break;
    }
    StageRecord rec = boosting.accept(stage, fitted, *step);
    rec.seconds = elapsed_before + detail::seconds_since(start);
    result.history.push_back(rec);

    if (checkpointing && rank0) {
      auto st = boosting.snapshot();
      st.fingerprint = fingerprint;
      st.elapsed = rec.seconds;
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
    // A callback of one process stops them all.
    if (share.any(stop)) {
      if (!stop) reason = "callback";
      break;
    }
  }

  choose_best_stages(result, o.keep_best());
  result.stop_reason = reason;
  result.target_shift = y_units.shift;
  result.target_scale = y_units.scale;
  for (auto& cb : callbacks) cb->on_train_end(reason);
  result.fit_seconds = elapsed_before + detail::seconds_since(start);
  return result;
}

}  // namespace boosthead
