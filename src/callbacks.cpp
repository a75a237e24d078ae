#include <boosthead/callbacks.h>
#include <boosthead/head.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

namespace boosthead {

ProgressCallback::ProgressCallback(std::ostream& out, int64_t every)
    : out_(out), every_(std::max<int64_t>(1, every)) {}

void ProgressCallback::on_train_begin(int64_t planned_stages) { planned_ = planned_stages; }

bool ProgressCallback::on_stage_end(const StageRecord& r, const BoostedHeadImpl&) {
  if (r.stage % every_ != 0 && r.stage != planned_) return true;
  std::string line = fmt::format("stage {:>4}/{}  train loss {:.6f}  train metric {:.4f}", r.stage,
                                 planned_, r.train_loss, r.train_metric);
  if (r.valid_loss) {
    line += fmt::format("  valid loss {:.6f}  valid metric {:.4f}", *r.valid_loss,
                        r.valid_metric.value_or(0.0));
  }
  line += fmt::format("  {:.2f} s\n", r.seconds);
  out_ << line << std::flush;
  return true;
}

EarlyStopping::EarlyStopping(int64_t patience, double min_delta)
    : patience_(patience), min_delta_(min_delta) {}

bool EarlyStopping::on_stage_end(const StageRecord& r, const BoostedHeadImpl&) {
  if (!r.valid_loss) return true;
  if (best_stage_ == 0 || *r.valid_loss < best_loss_ - min_delta_) {
    best_loss_ = *r.valid_loss;
    best_stage_ = r.stage;
    return true;
  }
  if (patience_ > 0 && r.stage - best_stage_ >= patience_) {
    stopped_ = true;
    return false;
  }
  return true;
}

LambdaCallback::LambdaCallback(std::function<bool(const StageRecord&, const BoostedHeadImpl&)> fn)
    : fn_(std::move(fn)) {}

bool LambdaCallback::on_stage_end(const StageRecord& r, const BoostedHeadImpl& head) {
  return fn_(r, head);
}

}  // namespace boosthead
