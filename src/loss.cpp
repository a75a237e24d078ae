#include <ATen/Parallel.h>
#include <boosthead/loss.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "util/registry.h"

namespace boosthead {
namespace {

void check_scores(const torch::Tensor& scores, const torch::Tensor& targets) {
  TORCH_CHECK(scores.dim() == 2, "expected 2-D scores, got ", scores.dim(), "-D");
  TORCH_CHECK(scores.sizes() == targets.sizes(), "scores of shape ", scores.sizes(),
              " do not match targets of shape ", targets.sizes());
}

void check_step_inputs(const torch::Tensor& h, const torch::Tensor& r, const torch::Tensor& y) {
  TORCH_CHECK(h.sizes() == y.sizes(), "direction of shape ", h.sizes(),
              " does not match targets of shape ", y.sizes());
  TORCH_CHECK(r.sizes() == y.sizes(), "residuals of shape ", r.sizes(),
              " do not match targets of shape ", y.sizes());
}

// Row-wise softmax and log-sum-exp from elementary ops: LibTorch's fused CPU kernels are several
// times slower on the few columns a head has (about 4x for 1,000 x 4). amax, not max: max also
// computes the indices, three times the cost on 4,000 x 6.
torch::Tensor softmax_rows(const torch::Tensor& f) {
  // The last dimension, so that a stack of score matrices (staged outputs) works too.
  auto e = (f - f.amax(-1, /*keepdim=*/true)).exp_();
  return e.div_(e.sum(-1, /*keepdim=*/true));
}

torch::Tensor logsumexp_rows(const torch::Tensor& f) {
  auto m = f.amax(1, /*keepdim=*/true);
  return (f - m).exp_().sum(1, /*keepdim=*/true).log_().add_(m).squeeze(1);
}

// Host loops for contiguous CPU float/double tensors: LibTorch's reductions over a row's few
// columns cost tens of microseconds each on a few thousand rows, a loop over the same values a
// few. exp stays one vectorised LibTorch op over the whole buffer.
bool host_rows(std::initializer_list<const torch::Tensor*> ts) {
  const auto type = (*ts.begin())->scalar_type();
  for (const auto* t : ts) {
    if (!t->device().is_cpu() || !t->is_contiguous() || t->scalar_type() != type || t->dim() != 2 ||
        t->size(0) == 0) {
      return false;
    }
  }
  return type == torch::kFloat || type == torch::kDouble;
}

// Calls fn with the column count as a compile-time constant (std::integral_constant) for the
// few columns a head usually has, so that the row loops below unroll; 0 (use the run-time count)
// otherwise. A Satellite stage's loss and residuals over 4,290 x 6: 100 -> 40 us.
template <typename F>
decltype(auto) with_columns(int64_t k, F&& fn) {
  switch (k) {
    case 2:
      return fn(std::integral_constant<int, 2>{});
    case 3:
      return fn(std::integral_constant<int, 3>{});
    case 4:
      return fn(std::integral_constant<int, 4>{});
    case 5:
      return fn(std::integral_constant<int, 5>{});
    case 6:
      return fn(std::integral_constant<int, 6>{});
    case 7:
      return fn(std::integral_constant<int, 7>{});
    case 8:
      return fn(std::integral_constant<int, 8>{});
    case 10:
      return fn(std::integral_constant<int, 10>{});
    default:
      return fn(std::integral_constant<int, 0>{});
  }
}

// The row loops below run over chunks of rows spread over LibTorch's threads; each chunk's sums
// are combined in chunk order, so the results do not depend on the thread count. A Satellite
// stage's 4,290 rows are five chunks.
constexpr int64_t kChunkRows = 1024;

int64_t num_chunks(int64_t n) { return (n + kChunkRows - 1) / kChunkRows; }

// fn(chunk, first row, end row) for every chunk of n rows; in parallel from two chunks on.
template <typename F>
void for_chunks(int64_t n, const F& fn) {
  at::parallel_for(0, num_chunks(n), 2, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(c, c * kChunkRows, std::min(n, (c + 1) * kChunkRows));
  });
}

// Rows [r0, r1) of exp(f - max of its row) into e (both N x K, contiguous); each row's max into
// maxima[row] when given. The exp runs on the chunk's block of e: every path to the residuals
// takes the same chunks, so their values agree bit for bit.
template <typename T, int KC>
void exp_shifted_rows(const torch::Tensor& f, torch::Tensor& e, int64_t r0, int64_t r1,
                      double* maxima) {
  const int64_t k = KC ? KC : f.size(1);
  const T* a = f.data_ptr<T>() + r0 * k;
  T* b = e.data_ptr<T>() + r0 * k;
  for (int64_t i = r0; i < r1; ++i, a += k, b += k) {
    T m = a[0];
    for (int64_t c = 1; c < k; ++c) m = a[c] > m ? a[c] : m;
    for (int64_t c = 0; c < k; ++c) b[c] = a[c] - m;
    if (maxima) maxima[i] = m;
  }
  e.narrow(0, r0, r1 - r0).exp_();
}

// One row's y - softmax from its shifted exponentials e, written over e. Both paths to the
// residuals use it: a fit resumed from a checkpoint gets its first residuals from
// pseudo_residuals, the uninterrupted fit from value_and_residuals, and they must agree bit
// for bit.
template <typename T, int KC>
void residual_row(T* e, const T* y, int64_t k_runtime) {
  const int64_t k = KC ? KC : k_runtime;
  T s = 0;
  for (int64_t c = 0; c < k; ++c) s += e[c];
  const T inv = T(1) / s;
  for (int64_t c = 0; c < k; ++c) e[c] = y[c] - e[c] * inv;
}

// Y - softmax(F), row by row.
template <typename T, int KC>
torch::Tensor softmax_residuals(const torch::Tensor& f, const torch::Tensor& y) {
  auto r = torch::empty_like(f);
  const int64_t k = f.size(1);
  for_chunks(f.size(0), [&](int64_t, int64_t r0, int64_t r1) {
    exp_shifted_rows<T, KC>(f, r, r0, r1, nullptr);
    T* b = r.data_ptr<T>() + r0 * k;
    const T* t = y.data_ptr<T>() + r0 * k;
    for (int64_t i = r0; i < r1; ++i, b += k, t += k) residual_row<T, KC>(b, t, k);
  });
  return r;
}

// Mean over rows of logsumexp(F) - y.F, in double; with `residuals`, also Y - softmax(F) from
// the same exponentials. The logs of the rows' sums (each in [1, K]) are taken as one log of
// their product per chunk, renormalised with frexp every 16 rows (K^16 stays far below
// overflow): a log per chunk instead of one per row, and the product's rounding (a relative
// 1e-16 per row) is the size of the rounding of a sum of logs.
template <typename T, int KC>
double multinomial_value(const torch::Tensor& f, const torch::Tensor& y,
                         torch::Tensor* residuals = nullptr) {
  const int64_t n = f.size(0), k = KC ? KC : f.size(1);
  auto e = torch::empty_like(f);
  std::vector<double> maxima(n), chunk_sums(num_chunks(n));
  for_chunks(n, [&](int64_t chunk, int64_t r0, int64_t r1) {
    exp_shifted_rows<T, KC>(f, e, r0, r1, maxima.data());
    T* b = e.data_ptr<T>() + r0 * k;
    const T* a = f.data_ptr<T>() + r0 * k;
    const T* t = y.data_ptr<T>() + r0 * k;
    double total = 0.0, product = 1.0;
    int64_t exponent = 0;
    for (int64_t i = r0; i < r1; ++i, a += k, b += k, t += k) {
      double row = 0.0, yf = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        row += b[c];
        yf += static_cast<double>(t[c]) * a[c];
      }
      product *= row;
      if (((i - r0) & 15) == 15) {
        int ex = 0;
        product = std::frexp(product, &ex);
        exponent += ex;
      }
      total += maxima[i] - yf;
      if (residuals) residual_row<T, KC>(b, t, k);
    }
    chunk_sums[chunk] = total + std::log(product) + static_cast<double>(exponent) * std::log(2.0);
  });
  if (residuals) *residuals = e;
  double sum = 0.0;
  for (double v : chunk_sums) sum += v;
  return sum / static_cast<double>(n);
}

// sum(r h) / sum_i (h_i^T diag(p_i) h_i - (p_i^T h_i)^2) with p = y - r.
template <typename T, int KC>
std::pair<double, double> multinomial_newton_sums(const torch::Tensor& y, const torch::Tensor& r,
                                                  const torch::Tensor& h) {
  const int64_t n = y.size(0), k = KC ? KC : y.size(1);
  std::vector<double> nums(num_chunks(n)), dens(num_chunks(n));
  for_chunks(n, [&](int64_t chunk, int64_t r0, int64_t r1) {
    const T* t = y.data_ptr<T>() + r0 * k;
    const T* q = r.data_ptr<T>() + r0 * k;
    const T* d = h.data_ptr<T>() + r0 * k;
    double num = 0.0, den = 0.0;
    for (int64_t i = r0; i < r1; ++i, t += k, q += k, d += k) {
      double rh = 0.0, ph = 0.0, phh = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        const double p = static_cast<double>(t[c]) - q[c];
        rh += static_cast<double>(q[c]) * d[c];
        ph += p * d[c];
        phh += p * d[c] * d[c];
      }
      num += rh;
      den += phh - ph * ph;
    }
    nums[chunk] = num;
    dens[chunk] = den;
  });
  double num = 0.0, den = 0.0;
  for (size_t c = 0; c < nums.size(); ++c) {
    num += nums[c];
    den += dens[c];
  }
  return {num, den};
}

template <typename T>
struct Type {
  using type = T;
};

// Calls fn(Type<T>, std::integral_constant<int, KC>) for the tensor's float type and column count.
template <typename F>
decltype(auto) dispatch_rows(const torch::Tensor& t, F&& fn) {
  return with_columns(t.size(1), [&](auto kc) -> decltype(auto) {
    if (t.scalar_type() == torch::kFloat) return fn(Type<float>{}, kc);
    return fn(Type<double>{}, kc);
  });
}
#define BOOSTHEAD_ROW_TYPES(type, kc)      \
  using T = typename decltype(type)::type; \
  constexpr int KC = decltype(kc)::value

torch::Tensor check_labels(const torch::Tensor& y, const char* loss) {
  if (y.dim() != 1) {
    throw std::invalid_argument(
        fmt::format("{} loss expects 1-D class labels, got a {}-D tensor", loss, y.dim()));
  }
  if (y.is_floating_point()) {
    auto rounded = y.round();
    if (!torch::equal(rounded, y) || !torch::isfinite(y).all().item<bool>()) {
      throw std::invalid_argument(
          fmt::format("{} loss expects integer class labels, got non-integer values", loss));
    }
  }
  return y.to(torch::kLong);
}

class SquaredLoss final : public Loss {
 public:
  std::string name() const override { return "squared"; }
  bool is_classification() const override { return false; }
  int64_t num_outputs(const torch::Tensor& y, int64_t) const override {
    if (y.dim() == 1) return 1;
    if (y.dim() == 2) return y.size(1);
    throw std::invalid_argument(fmt::format(
        "squared loss expects targets of shape N or N x K, got a {}-D tensor", y.dim()));
  }
  torch::Tensor prepare_targets(const torch::Tensor& y, int64_t k,
                                torch::ScalarType dtype) const override {
    auto t = (y.dim() == 1 ? y.unsqueeze(1) : y).to(dtype);
    if (t.dim() != 2 || t.size(1) != k) {
      throw std::invalid_argument(
          fmt::format("squared loss expects {} target column(s), got shape [{}]", k,
                      fmt::join(y.sizes().vec(), ", ")));
    }
    if (!torch::isfinite(t).all().item<bool>()) {
      throw std::invalid_argument("regression targets contain NaN or Inf");
    }
    return t.contiguous();
  }
  torch::Tensor initial_score(const torch::Tensor& targets) const override {
    return targets.mean(0);
  }
  torch::Tensor pseudo_residuals(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    return y - f;
  }
  using Loss::newton_step;
  double newton_step(const torch::Tensor& f, const torch::Tensor& y,
                     const torch::Tensor& h) const override {
    check_scores(f, y);
    return newton_step(f, y, h, y - f);
  }
  std::pair<double, double> newton_sums(const torch::Tensor& f, const torch::Tensor& y,
                                        const torch::Tensor& h,
                                        const torch::Tensor& r) const override {
    check_scores(f, y);
    check_step_inputs(h, r, y);
    return {(r * h).sum().item<double>(), (h * h).sum().item<double>()};
  }
  torch::Tensor row_loss(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    return 0.5 * (y - f).pow(2).sum(1);
  }
  torch::Tensor link(const torch::Tensor& f) const override { return f; }
};

class BinaryLogisticLoss final : public Loss {
 public:
  std::string name() const override { return "binary_logistic"; }
  bool is_classification() const override { return true; }
  int64_t num_outputs(const torch::Tensor&, int64_t num_classes) const override {
    if (num_classes != 0 && num_classes != 2) {
      throw std::invalid_argument(
          fmt::format("binary_logistic loss needs exactly 2 classes, got {}", num_classes));
    }
    return 1;
  }
  torch::Tensor prepare_targets(const torch::Tensor& y, int64_t,
                                torch::ScalarType dtype) const override {
    auto labels = check_labels(y, "binary_logistic");
    if (labels.numel() > 0 &&
        (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() > 1)) {
      throw std::invalid_argument(
          fmt::format("binary_logistic loss expects labels 0 or 1, got values in [{}, {}]",
                      labels.min().item<int64_t>(), labels.max().item<int64_t>()));
    }
    return labels.to(dtype).unsqueeze(1).contiguous();
  }
  torch::Tensor initial_score(const torch::Tensor& y) const override {
    auto p = y.mean(0).clamp(1e-12, 1.0 - 1e-12);
    return torch::log(p / (1 - p));
  }
  torch::Tensor pseudo_residuals(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    return y - torch::sigmoid(f);
  }
  using Loss::newton_step;
  double newton_step(const torch::Tensor& f, const torch::Tensor& y,
                     const torch::Tensor& h) const override {
    check_scores(f, y);
    return newton_step(f, y, h, y - torch::sigmoid(f));
  }
  std::pair<double, double> newton_sums(const torch::Tensor& f, const torch::Tensor& y,
                                        const torch::Tensor& h,
                                        const torch::Tensor& r) const override {
    check_scores(f, y);
    check_step_inputs(h, r, y);
    auto p = y - r;
    return {(r * h).sum().item<double>(), (p * (1 - p) * h * h).sum().item<double>()};
  }
  torch::Tensor row_loss(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    return (torch::softplus(f) - y * f).squeeze(1);
  }
  torch::Tensor link(const torch::Tensor& f) const override { return torch::sigmoid(f); }
  // The sign of the score, exactly: sigmoid rounds scores near 0 to 0.5.
  torch::Tensor predictions(const torch::Tensor& f) const override {
    return (f.squeeze(-1) > 0).to(torch::kLong);
  }
};

class MultinomialLoss final : public Loss {
 public:
  std::string name() const override { return "multinomial"; }
  bool is_classification() const override { return true; }
  int64_t num_outputs(const torch::Tensor& y, int64_t num_classes) const override {
    if (num_classes > 0) return num_classes;
    auto labels = check_labels(y, "multinomial");
    if (labels.numel() == 0) throw std::invalid_argument("multinomial loss got no labels");
    return labels.max().item<int64_t>() + 1;
  }
  torch::Tensor prepare_targets(const torch::Tensor& y, int64_t k,
                                torch::ScalarType dtype) const override {
    auto labels = check_labels(y, "multinomial");
    if (labels.numel() > 0) {
      auto lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
      if (lo < 0 || hi >= k) {
        throw std::invalid_argument(fmt::format(
            "multinomial loss with {} classes expects labels in [0, {}], got values in [{}, {}]", k,
            k - 1, lo, hi));
      }
    }
    return torch::one_hot(labels, k).to(dtype).contiguous();
  }
  torch::Tensor initial_score(const torch::Tensor& y) const override {
    return torch::log(y.mean(0).clamp_min(1e-12));
  }
  torch::Tensor pseudo_residuals(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    if (host_rows({&f, &y})) {
      return dispatch_rows(f, [&](auto type, auto kc) {
        BOOSTHEAD_ROW_TYPES(type, kc);
        return softmax_residuals<T, KC>(f, y);
      });
    }
    return y - softmax_rows(f);
  }
  using Loss::newton_step;
  double newton_step(const torch::Tensor& f, const torch::Tensor& y,
                     const torch::Tensor& h) const override {
    check_scores(f, y);
    return newton_step(f, y, h, pseudo_residuals(f, y));
  }
  std::pair<double, double> newton_sums(const torch::Tensor& f, const torch::Tensor& y,
                                        const torch::Tensor& h,
                                        const torch::Tensor& r) const override {
    check_scores(f, y);
    check_step_inputs(h, r, y);
    if (host_rows({&y, &r, &h})) {
      return dispatch_rows(y, [&](auto type, auto kc) {
        BOOSTHEAD_ROW_TYPES(type, kc);
        return multinomial_newton_sums<T, KC>(y, r, h);
      });
    }
    auto p = y - r;
    auto ph = p * h;
    return {(r * h).sum().item<double>(),
            (ph * h).sum().item<double>() - ph.sum(1).pow(2).sum().item<double>()};
  }
  torch::Tensor row_loss(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    return logsumexp_rows(f) - (y * f).sum(1);
  }
  double value(const torch::Tensor& f, const torch::Tensor& y) const override {
    check_scores(f, y);
    if (!f.requires_grad() && host_rows({&f, &y})) {
      return dispatch_rows(f, [&](auto type, auto kc) {
        BOOSTHEAD_ROW_TYPES(type, kc);
        return multinomial_value<T, KC>(f, y);
      });
    }
    return Loss::value(f, y);
  }
  std::pair<double, torch::Tensor> value_and_residuals(const torch::Tensor& f,
                                                       const torch::Tensor& y) const override {
    check_scores(f, y);
    if (!f.requires_grad() && host_rows({&f, &y})) {
      torch::Tensor r;
      const double v = dispatch_rows(f, [&](auto type, auto kc) {
        BOOSTHEAD_ROW_TYPES(type, kc);
        return multinomial_value<T, KC>(f, y, &r);
      });
      return {v, r};
    }
    return Loss::value_and_residuals(f, y);
  }
  torch::Tensor link(const torch::Tensor& f) const override { return softmax_rows(f); }
  // The highest score, exactly: softmax can round distinct scores to equal probabilities.
  torch::Tensor predictions(const torch::Tensor& f) const override { return f.argmax(-1); }
};

util::Registry<Loss>& registry() {
  static util::Registry<Loss> r(
      "loss", "losses",
      {{"squared", [] { return std::make_unique<SquaredLoss>(); }},
       {"binary_logistic", [] { return std::make_unique<BinaryLogisticLoss>(); }},
       {"multinomial", [] { return std::make_unique<MultinomialLoss>(); }}});
  return r;
}

}  // namespace

double Loss::value(const torch::Tensor& scores, const torch::Tensor& targets) const {
  return row_loss(scores, targets).mean().item<double>();
}

std::pair<double, torch::Tensor> Loss::value_and_residuals(const torch::Tensor& scores,
                                                           const torch::Tensor& targets) const {
  return {value(scores, targets), pseudo_residuals(scores, targets)};
}

int64_t Loss::num_classes(int64_t num_outputs) const {
  if (!is_classification()) return 0;
  return num_outputs == 1 ? 2 : num_outputs;
}

torch::Tensor Loss::probabilities(const torch::Tensor& scores) const {
  auto p = link(scores);
  if (is_classification() && p.size(-1) == 1) return torch::cat({1 - p, p}, -1);
  return p;
}

torch::Tensor Loss::predictions(const torch::Tensor& scores) const {
  if (!is_classification()) return link(scores);
  return probabilities(scores).argmax(-1);
}

double Loss::newton_step(const torch::Tensor& scores, const torch::Tensor& targets,
                         const torch::Tensor& direction, const torch::Tensor& residuals) const {
  try {
    const auto [num, den] = newton_sums(scores, targets, direction, residuals);
    return newton_ratio(num, den);
  } catch (const NewtonSumsMissing&) {
    return newton_step(scores, targets, direction);
  }
}

std::pair<double, double> Loss::newton_sums(const torch::Tensor&, const torch::Tensor&,
                                            const torch::Tensor&, const torch::Tensor&) const {
  throw NewtonSumsMissing(fmt::format(
      "loss '{}' gives its Newton step only as a ratio (it does not override newton_sums), "
      "which a data-parallel fit cannot add up across processes",
      name()));
}

double newton_ratio(double num, double den) {
  if (!(den > 1e-300) || !std::isfinite(num) || !std::isfinite(den)) return 0.0;
  return num / den;
}

void register_loss(const std::string& name, LossFactory factory) {
  registry().add(name, std::move(factory));
}

std::unique_ptr<Loss> make_loss(const std::string& name) { return registry().make(name); }

std::vector<std::string> loss_names() { return registry().names(); }

}  // namespace boosthead
