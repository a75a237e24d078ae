// TorchScript custom class torch.classes.boosthead.Trainer, for Python (after
// torch.ops.load_library) and TorchScript. See docs/PYTHON.md.

#include <boosthead/loss.h>
#include <boosthead/model_file.h>
#include <boosthead/stage_solver.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/custom_class.h>
#include <torch/script.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace boosthead {
namespace {

using OptionsDict = c10::Dict<std::string, c10::IValue>;
using HistoryList = c10::List<c10::Dict<std::string, c10::IValue>>;
// options, head meta data, head tensors, history.
using State = std::tuple<OptionsDict, OptionsDict, std::vector<torch::Tensor>, HistoryList>;

// Python maps c10::ValueError to ValueError and c10::TypeError to TypeError, but anything else
// (std::invalid_argument included) to RuntimeError, so the library's argument errors are
// rethrown here with the same message.
template <class F>
auto python_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    C10_THROW_ERROR(ValueError, e.what());
  }
}

OptionsDict make_dict() {
  return c10::impl::toTypedDict<std::string, c10::IValue>(
      c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()));
}

[[noreturn]] void value_error(const std::string& msg) { C10_THROW_ERROR(ValueError, msg); }

std::string type_name(const c10::IValue& v) {
  if (v.isNone()) return "None";
  return v.type()->annotation_str();
}

[[noreturn]] void type_error(const std::string& key, const char* expected, const c10::IValue& v) {
  C10_THROW_ERROR(TypeError, fmt::format("option '{}' must be {}, got {}", key, expected,
                                         type_name(v)));
}

int64_t as_int(const std::string& key, const c10::IValue& v) {
  if (!v.isInt()) type_error(key, "an int", v);
  return v.toInt();
}

double as_float(const std::string& key, const c10::IValue& v) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  type_error(key, "a float", v);
}

std::string as_string(const std::string& key, const c10::IValue& v) {
  if (!v.isString()) type_error(key, "a str", v);
  return v.toStringRef();
}

bool as_bool(const std::string& key, const c10::IValue& v) {
  if (!v.isBool()) type_error(key, "a bool", v);
  return v.toBool();
}

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float32";
    case torch::kDouble: return "float64";
    case torch::kHalf: return "float16";
    case torch::kBFloat16: return "bfloat16";
    default: return c10::toString(t);
  }
}

torch::ScalarType parse_dtype(const std::string& key, const c10::IValue& v) {
  // A torch.dtype reaches C++ as its ScalarType code.
  if (v.isInt()) {
    const auto code = v.toInt();
    if (code < 0 || code >= static_cast<int64_t>(torch::ScalarType::NumOptions)) {
      value_error(fmt::format("option '{}': {} is not a dtype code", key, code));
    }
    return static_cast<torch::ScalarType>(code);
  }
  const std::string s = as_string(key, v);
  for (auto t : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    if (s == dtype_name(t) || s == "torch." + dtype_name(t)) return t;
  }
  value_error(fmt::format(
      "option '{}' must be one of float32, float64, float16, bfloat16, got '{}'", key, s));
}

struct OptionSpec {
  const char* name;
  std::function<void(TrainerOptions&, const std::string&, const c10::IValue&)> set;
  std::function<c10::IValue(const TrainerOptions&)> get;
};

// In TrainerOptions' field order.
const std::vector<OptionSpec>& option_specs() {
  static const std::vector<OptionSpec> specs = {
      {"stages", [](auto& o, auto& k, auto& v) { o.stages(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.stages()); }},
      {"units_per_stage", [](auto& o, auto& k, auto& v) { o.units_per_stage(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.units_per_stage()); }},
      {"shrinkage", [](auto& o, auto& k, auto& v) { o.shrinkage(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.shrinkage()); }},
      {"subsample", [](auto& o, auto& k, auto& v) { o.subsample(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.subsample()); }},
      {"max_iter", [](auto& o, auto& k, auto& v) { o.max_iter(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.max_iter()); }},
      {"activation",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         activation_from_name(name);
         o.activation(name);
       },
       [](auto& o) { return c10::IValue(o.activation()); }},
      {"loss",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         if (name != "auto") make_loss(name);
         o.loss(name);
       },
       [](auto& o) { return c10::IValue(o.loss()); }},
      {"solver",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         make_stage_solver(name);
         o.solver(name);
       },
       [](auto& o) { return c10::IValue(o.solver()); }},
      {"l2", [](auto& o, auto& k, auto& v) { o.l2(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.l2()); }},
      {"valid_fraction", [](auto& o, auto& k, auto& v) { o.valid_fraction(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.valid_fraction()); }},
      {"patience", [](auto& o, auto& k, auto& v) { o.patience(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.patience()); }},
      {"keep_best", [](auto& o, auto& k, auto& v) { o.keep_best(as_bool(k, v)); },
       [](auto& o) { return c10::IValue(o.keep_best()); }},
      {"num_classes", [](auto& o, auto& k, auto& v) { o.num_classes(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.num_classes()); }},
      {"seed",
       [](auto& o, auto& k, auto& v) {
         const auto seed = as_int(k, v);
         if (seed < 0) value_error(fmt::format("option 'seed' must be non-negative, got {}", seed));
         o.seed(static_cast<uint64_t>(seed));
       },
       [](auto& o) { return c10::IValue(static_cast<int64_t>(o.seed())); }},
      {"device",
       [](auto& o, auto& k, auto& v) {
         if (v.isNone()) {
           o.device(std::nullopt);
         } else if (v.isDevice()) {
           o.device(v.toDevice());
         } else {
           const auto s = as_string(k, v);
           try {
             o.device(torch::Device(s));
           } catch (const c10::Error&) {
             value_error(fmt::format("option 'device': '{}' is not a device", s));
           }
         }
       },
       [](auto& o) {
         return o.device() ? c10::IValue(o.device()->str()) : c10::IValue();
       }},
      {"dtype",
       [](auto& o, auto& k, auto& v) {
         if (v.isNone()) {
           o.dtype(std::nullopt);
         } else {
           o.dtype(parse_dtype(k, v));
         }
       },
       [](auto& o) { return o.dtype() ? c10::IValue(dtype_name(*o.dtype())) : c10::IValue(); }},
  };
  return specs;
}

std::string option_list() {
  std::string out;
  for (const auto& s : option_specs()) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

TrainerOptions parse_options(const OptionsDict& dict) {
  TrainerOptions o;
  for (const auto& entry : dict) {
    const std::string& key = entry.key();
    const auto& specs = option_specs();
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const OptionSpec& s) { return key == s.name; });
    if (it == specs.end()) {
      value_error(fmt::format("unknown option '{}'; valid options: {}", key, option_list()));
    }
    it->set(o, key, entry.value());
  }
  return o;
}

OptionsDict options_dict(const TrainerOptions& o) {
  OptionsDict out = make_dict();
  for (const auto& s : option_specs()) out.insert(s.name, s.get(o));
  return out;
}

c10::IValue optional_double(const std::optional<double>& v) {
  return v ? c10::IValue(*v) : c10::IValue();
}

class TorchTrainer : public torch::CustomClassHolder {
 public:
  explicit TorchTrainer(TrainerOptions options) : options_(std::move(options)) {}

  OptionsDict options() const { return options_dict(options_); }

  OptionsDict fit(const torch::Tensor& x, const torch::Tensor& y) {
    return python_errors([&] { return adopt(Trainer(options_).fit(x, y)); });
  }

  OptionsDict fit_with_validation(const torch::Tensor& x, const torch::Tensor& y,
                                  const torch::Tensor& xv, const torch::Tensor& yv) {
    return python_errors([&] { return adopt(Trainer(options_).fit(x, y, xv, yv)); });
  }

  OptionsDict summary() const {
    OptionsDict out = make_dict();
    out.insert("stages_trained", stages_trained_);
    out.insert("best_stages", best_stages_);
    out.insert("num_stages", num_stages());
    out.insert("stop_reason", stop_reason_);
    out.insert("fit_seconds", fit_seconds_);
    out.insert("loss", head_ ? c10::IValue(head_->loss()) : c10::IValue());
    return out;
  }

  HistoryList history() const {
    HistoryList out;
    for (const auto& r : history_) {
      OptionsDict d = make_dict();
      d.insert("stage", r.stage);
      d.insert("train_loss", r.train_loss);
      d.insert("valid_loss", optional_double(r.valid_loss));
      d.insert("train_metric", r.train_metric);
      d.insert("valid_metric", optional_double(r.valid_metric));
      d.insert("rho", r.rho);
      d.insert("solver_iterations", r.solver_iterations);
      d.insert("seconds", r.seconds);
      out.push_back(std::move(d));
    }
    return out;
  }

  torch::Tensor scores(const torch::Tensor& x, int64_t stages) const {
    check_input(x, stages);
    torch::NoGradGuard no_grad;
    return head_->forward(x, stages);
  }
  torch::Tensor predict(const torch::Tensor& x, int64_t stages) const {
    check_input(x, stages);
    return head_->predict(x, stages);
  }
  torch::Tensor predict_proba(const torch::Tensor& x, int64_t stages) const {
    check_input(x, stages);
    return head_->predict_proba(x, stages);
  }

  void truncate(int64_t stages) {
    check_fitted();
    if (stages < 0 || stages > head_->num_stages()) {
      value_error(fmt::format("cannot truncate a head of {} stages to {}", head_->num_stages(),
                              stages));
    }
    head_->truncate(stages);
  }

  int64_t num_stages() const { return head_ ? head_->num_stages() : 0; }

  void export_model(const std::string& path) const {
    check_fitted();
    const auto& h = *head_;
    ModelInfo info;
    const int64_t k = h.num_outputs();
    info.task = h.num_classes() > 0 ? "classification" : "regression";
    info.target = "target";
    for (int64_t i = 0; i < h.num_features(); ++i) {
      const auto name = fmt::format("f{}", i);
      info.feature_names.push_back(name);
      info.columns.push_back(data::ColumnEncoding{name, false, {}});
    }
    if (info.task == "classification") {
      for (int64_t c = 0; c < h.num_classes(); ++c) info.class_names.push_back(std::to_string(c));
    } else if (k == 1) {
      info.class_names.push_back(info.target);
    } else {
      for (int64_t c = 0; c < k; ++c) info.class_names.push_back(fmt::format("target{}", c));
    }
    // Identity standardisation: the exported model takes the features the head was fitted on.
    info.standardizer.mean = torch::zeros({h.num_features()}, torch::kDouble);
    info.standardizer.scale = torch::ones({h.num_features()}, torch::kDouble);
    save_model(path, h, info);
  }

  State get_state() const {
    OptionsDict meta = summary();
    std::vector<torch::Tensor> tensors;
    if (head_) {
      meta.insert("units_per_stage", head_->units_per_stage());
      meta.insert("activation", activation_name(head_->activation()));
      tensors = {head_->hidden_weight.detach(),  head_->hidden_bias.detach(),
                 head_->output_weight.detach(),  head_->output_bias.detach(),
                 head_->stage_output_bias.detach(), head_->initial_score.detach()};
    }
    return State(options(), meta, tensors, history());
  }

  static c10::intrusive_ptr<TorchTrainer> from_state(State state) {
    auto& [opts, meta, tensors, history] = state;
    auto t = c10::make_intrusive<TorchTrainer>(parse_options(opts));
    t->stages_trained_ = meta.at("stages_trained").toInt();
    t->best_stages_ = meta.at("best_stages").toInt();
    t->stop_reason_ = meta.at("stop_reason").toStringRef();
    t->fit_seconds_ = meta.at("fit_seconds").toDouble();
    if (!tensors.empty()) {
      TORCH_CHECK(tensors.size() == 6, "a pickled boosthead Trainer holds 6 head tensors, got ",
                  tensors.size());
      t->head_ = BoostedHead(tensors[0].size(1), meta.at("units_per_stage").toInt(),
                             activation_from_name(meta.at("activation").toStringRef()),
                             meta.at("loss").toStringRef(), tensors[5]);
      torch::NoGradGuard no_grad;
      t->head_->hidden_weight.set_data(tensors[0]);
      t->head_->hidden_bias.set_data(tensors[1]);
      t->head_->output_weight.set_data(tensors[2]);
      t->head_->output_bias.set_data(tensors[3]);
      t->head_->stage_output_bias.set_data(tensors[4]);
    }
    for (const auto& entry : history) {
      const OptionsDict d = entry;
      StageRecord r;
      r.stage = d.at("stage").toInt();
      r.train_loss = d.at("train_loss").toDouble();
      if (!d.at("valid_loss").isNone()) r.valid_loss = d.at("valid_loss").toDouble();
      r.train_metric = d.at("train_metric").toDouble();
      if (!d.at("valid_metric").isNone()) r.valid_metric = d.at("valid_metric").toDouble();
      r.rho = d.at("rho").toDouble();
      r.solver_iterations = d.at("solver_iterations").toInt();
      r.seconds = d.at("seconds").toDouble();
      t->history_.push_back(r);
    }
    return t;
  }

 private:
  OptionsDict adopt(FitResult r) {
    head_ = r.head;
    history_ = std::move(r.history);
    stages_trained_ = r.stages_trained;
    best_stages_ = r.best_stages;
    stop_reason_ = r.stop_reason;
    fit_seconds_ = r.fit_seconds;
    return summary();
  }

  void check_fitted() const {
    if (!head_) value_error("this Trainer has not been fitted yet; call fit first");
  }

  // The head reports these with TORCH_CHECK (RuntimeError); from Python they are argument
  // errors.
  void check_input(const torch::Tensor& x, int64_t stages) const {
    check_fitted();
    const auto d = head_->num_features();
    if (!x.defined()) value_error("expected a feature tensor, got an undefined tensor");
    if (x.dim() != 2) {
      value_error(fmt::format("expected 2-D features (N x {}), got {}-D of shape [{}]", d,
                              x.dim(), fmt::join(x.sizes().vec(), ", ")));
    }
    if (x.size(1) != d) {
      value_error(fmt::format("expected {} feature columns, got {}", d, x.size(1)));
    }
    if (x.device() != head_->hidden_weight.device()) {
      value_error(fmt::format("features are on {} but the head is on {}", x.device().str(),
                              head_->hidden_weight.device().str()));
    }
    if (stages < -1 || stages > head_->num_stages()) {
      value_error(fmt::format("stages must be -1 (all) or in [0, {}], got {}",
                              head_->num_stages(), stages));
    }
  }

  TrainerOptions options_;
  BoostedHead head_{nullptr};
  std::vector<StageRecord> history_;
  int64_t stages_trained_ = 0;
  int64_t best_stages_ = 0;
  std::string stop_reason_;
  double fit_seconds_ = 0.0;
};

}  // namespace
}  // namespace boosthead

TORCH_LIBRARY(boosthead, m) {
  using boosthead::TorchTrainer;
  using Self = c10::intrusive_ptr<TorchTrainer>;
  m.class_<TorchTrainer>("Trainer")
      .def(torch::init([](boosthead::OptionsDict options) {
             return boosthead::python_errors([&] {
               return c10::make_intrusive<TorchTrainer>(boosthead::parse_options(options));
             });
           }),
           "A boosting trainer; options use the names of boosthead::TrainerOptions.",
           {torch::arg("options")})
      .def("options", &TorchTrainer::options, "All options, defaults included.")
      .def("fit", &TorchTrainer::fit,
           "Fits on features (N x d) and targets; returns a summary dict.",
           {torch::arg("features"), torch::arg("targets")})
      .def("fit_with_validation", &TorchTrainer::fit_with_validation,
           "Fits with an explicit validation set; returns a summary dict.",
           {torch::arg("features"), torch::arg("targets"), torch::arg("valid_features"),
            torch::arg("valid_targets")})
      .def("summary", &TorchTrainer::summary, "The last fit's summary.")
      .def("history", &TorchTrainer::history, "One dict per trained stage.")
      .def("scores", &TorchTrainer::scores, "Raw scores of the first `stages` stages.",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("predict", &TorchTrainer::predict,
           "Class indices (classification) or values (regression).",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("predict_proba", &TorchTrainer::predict_proba,
           "Class probabilities (classification) or values (regression).",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("truncate", &TorchTrainer::truncate, "Keeps only the first `stages` stages.",
           {torch::arg("stages")})
      .def("num_stages", &TorchTrainer::num_stages, "Stages in the head (0 before fit).")
      .def("export", &TorchTrainer::export_model,
           "Writes the head as a boosthead model file for torch.jit.load.",
           {torch::arg("path")})
      .def_pickle([](const Self& self) { return self->get_state(); },
                  [](boosthead::State state) {
                    return TorchTrainer::from_state(std::move(state));
                  });
}
