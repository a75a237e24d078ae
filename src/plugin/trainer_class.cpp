// TorchScript custom class torch.classes.boosthead.Trainer, for Python (after
// torch.ops.load_library, which the boosthead package does on import) and TorchScript.
// See docs/PYTHON.md.

#include <boosthead/activation.h>
#include <boosthead/distributed.h>
#include <boosthead/model_file.h>
#include <boosthead/standardized_fit.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/custom_class.h>
#include <torch/script.h>

#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/GroupRegistry.hpp>
#include <tuple>
#include <vector>

#include "options.h"
#include "stage_feed.h"

namespace boosthead::plugin {
namespace {

using HistoryList = c10::List<c10::Dict<std::string, c10::IValue>>;
// options, head meta data, tensors (none, the head's 6, or those and the standardiser's mean and
// scale), history.
using State = std::tuple<OptionsDict, OptionsDict, std::vector<torch::Tensor>, HistoryList>;

c10::IValue optional_double(const std::optional<double>& v) {
  return v ? c10::IValue(*v) : c10::IValue();
}

OptionsDict record_dict(const StageRecord& r) {
  OptionsDict d = make_dict();
  d.insert("stage", r.stage);
  d.insert("train_loss", r.train_loss);
  d.insert("valid_loss", optional_double(r.valid_loss));
  d.insert("train_metric", r.train_metric);
  d.insert("valid_metric", optional_double(r.valid_metric));
  d.insert("rho", r.rho);
  d.insert("solver_iterations", r.solver_iterations);
  d.insert("seconds", r.seconds);
  return d;
}

HistoryList history_list(const std::vector<StageRecord>& records) {
  HistoryList out;
  for (const auto& r : records) out.push_back(record_dict(r));
  return out;
}

OptionsDict info_dict(const ModelInfo& info) {
  OptionsDict d = make_dict();
  d.insert("task", info.task);
  d.insert("target", info.target);
  d.insert("feature_names", c10::List<std::string>(info.feature_names));
  d.insert("class_names", c10::List<std::string>(info.class_names));
  c10::List<std::string> columns;
  c10::List<bool> categorical;
  c10::List<c10::List<std::string>> levels;
  for (const auto& c : info.columns) {
    columns.push_back(c.name);
    categorical.push_back(c.categorical);
    levels.push_back(c10::List<std::string>(c.levels));
  }
  d.insert("columns", columns);
  d.insert("categorical", categorical);
  d.insert("levels", levels);
  return d;
}

class TorchTrainer : public torch::CustomClassHolder {
 public:
  explicit TorchTrainer(TrainerOptions options) : options_(std::move(options)) {}

  OptionsDict options() const { return options_dict(options_); }

  // Later fits are data-parallel over the processes of the torch.distributed group of this name
  // (its group_name; none: this process alone).
  void set_process_group(const std::optional<std::string>& group_name) {
    python_errors([&] {
      options_.collective(group_name
                              ? process_group_collective(c10d::resolve_process_group(*group_name))
                              : nullptr);
      return 0;
    });
  }

  OptionsDict fit(const torch::Tensor& x, const torch::Tensor& y) {
    return python_errors([&] {
      standardizer_ = {};
      return adopt(trainer().fit(x, y));
    });
  }

  OptionsDict fit_with_validation(const torch::Tensor& x, const torch::Tensor& y,
                                  const torch::Tensor& xv, const torch::Tensor& yv) {
    return python_errors([&] {
      standardizer_ = {};
      return adopt(trainer().fit(x, y, xv, yv));
    });
  }

  // Encoded, unstandardised features: fitted as the command line fits them (standardize in the
  // model), after which the prediction methods take such features too.
  OptionsDict fit_tabular(const torch::Tensor& x, const torch::Tensor& y,
                          const std::optional<torch::Tensor>& xv,
                          const std::optional<torch::Tensor>& yv) {
    return python_errors([&] {
      if (xv.has_value() != yv.has_value()) {
        value_error("give both validation features and validation targets, or neither");
      }
      auto t = trainer();
      auto r = xv ? fit_standardized(t, x, y, *xv, *yv) : fit_standardized(t, x, y);
      standardizer_ = r.standardizer;
      return adopt(std::move(r.fit));
    });
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

  HistoryList history() const { return history_list(history_); }

  // Records of the fit in progress (or the last one) from stage index `first` on, waiting up to
  // `timeout` seconds for one while the fit runs.
  HistoryList progress(int64_t first, double timeout) const {
    return history_list(feed_->since(static_cast<size_t>(std::max<int64_t>(first, 0)), timeout));
  }

  void acknowledge(int64_t count, bool keep_going) {
    feed_->acknowledge(static_cast<size_t>(std::max<int64_t>(count, 0)), keep_going);
  }

  void set_lockstep(bool on) { feed_->set_lockstep(on); }

  void request_stop() { feed_->request_stop(); }

  torch::Tensor scores(const torch::Tensor& x, int64_t stages) const {
    const auto xs = prepare(x, stages);
    torch::NoGradGuard no_grad;
    return head_->forward(xs, stages);
  }
  torch::Tensor predict(const torch::Tensor& x, int64_t stages) const {
    const auto xs = prepare(x, stages);  // checks first: head_ may be empty
    return head_->predict(xs, stages);
  }
  torch::Tensor predict_proba(const torch::Tensor& x, int64_t stages) const {
    const auto xs = prepare(x, stages);
    return head_->predict_proba(xs, stages);
  }

  // Outputs after each of the stages first+1 .. first+count (count x N x ...): "scores",
  // "proba" or "predict".
  torch::Tensor staged(const torch::Tensor& x, const std::string& kind, int64_t first,
                       int64_t count) const {
    const auto xs = prepare(x, -1);
    if (first < 0 || count < 0 || first + count > head_->num_stages()) {
      value_error(fmt::format("stages {} to {} asked of a head of {} stages", first + 1,
                              first + count, head_->num_stages()));
    }
    const auto f = head_->staged_scores(xs, first, count);
    if (kind == "scores") return f;
    if (kind == "proba") return head_->proba_from_scores(f);
    if (kind == "predict") return head_->predict_from_scores(f);
    value_error(fmt::format("staged outputs are 'scores', 'proba' or 'predict', got '{}'", kind));
  }

  void truncate(int64_t stages) {
    check_fitted();
    if (stages < 0 || stages > head_->num_stages()) {
      value_error(
          fmt::format("cannot truncate a head of {} stages to {}", head_->num_stages(), stages));
    }
    head_->truncate(stages);
  }

  int64_t num_stages() const { return head_ ? head_->num_stages() : 0; }

  // The head's tensors and, when fitted on tabular features, the standardisation in front of
  // it: what a torch module needs to run the model without this library.
  c10::Dict<std::string, torch::Tensor> tensors() const {
    check_fitted();
    c10::Dict<std::string, torch::Tensor> d;
    head_->tensors().for_each([&](const char* name, const torch::Tensor& t) { d.insert(name, t); });
    const auto s = standardizer_or_identity();
    d.insert("mean", s.mean);
    d.insert("scale", s.scale);
    return d;
  }

  OptionsDict head_info() const {
    check_fitted();
    OptionsDict d = make_dict();
    d.insert("activation", activation_name(head_->activation()));
    d.insert("loss", head_->loss());
    d.insert("units_per_stage", head_->units_per_stage());
    d.insert("num_features", head_->num_features());
    d.insert("num_outputs", head_->num_outputs());
    d.insert("num_classes", head_->num_classes());
    return d;
  }

  // Moves the head to another device and, when given, floating dtype ("float32", "float64").
  void to(const std::string& device, const std::optional<std::string>& dtype) {
    check_fitted();
    python_errors([&] {
      const torch::Device d(device);
      if (!dtype) return head_->to(d);
      if (*dtype != "float32" && *dtype != "float64") {
        value_error(fmt::format("dtype must be float32 or float64, got '{}'", *dtype));
      }
      head_->to(d, *dtype == "float64" ? torch::kDouble : torch::kFloat);
    });
  }

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
    info.standardizer = standardizer_or_identity();
    python_errors([&] { save_model(path, h, info); });
  }

  // Writes the command line's model file with the names and column encodings given (the
  // lists of columns, categorical flags and levels run in parallel).
  void save_model_with_info(const std::string& path, const std::string& task,
                            const std::string& target, std::vector<std::string> feature_names,
                            std::vector<std::string> class_names, std::vector<std::string> columns,
                            const c10::List<bool>& categorical,
                            std::vector<std::vector<std::string>> levels) const {
    check_fitted();
    if (categorical.size() != columns.size() || levels.size() != columns.size()) {
      value_error(fmt::format("{} columns but {} categorical flags and {} level lists",
                              columns.size(), categorical.size(), levels.size()));
    }
    ModelInfo m;
    m.task = task;
    m.target = target;
    m.feature_names = std::move(feature_names);
    m.class_names = std::move(class_names);
    for (size_t i = 0; i < columns.size(); ++i) {
      m.columns.push_back(data::ColumnEncoding{columns[i], categorical[i], levels[i]});
    }
    m.standardizer = standardizer_or_identity();
    python_errors([&] {
      // The file must describe this head: its reader checks the same.
      const auto d = head_->num_features();
      if (static_cast<int64_t>(m.feature_names.size()) != d ||
          data::FeatureEncoder(m.columns).num_encoded() != d) {
        value_error(fmt::format("the head takes {} features but the names describe {}", d,
                                m.feature_names.size()));
      }
      save_model(path, *head_, m);
    });
  }

  // Reads a model file (the command line's or save_model's) into this trainer and returns its
  // names and encoding.
  OptionsDict load_model_file(const std::string& path, const std::string& device) {
    return python_errors([&] {
      auto loaded = load_model(path, torch::Device(device));
      head_ = loaded.head;
      standardizer_ = loaded.info.standardizer;
      history_.clear();
      stages_trained_ = best_stages_ = head_->num_stages();
      stop_reason_ = "loaded";
      fit_seconds_ = 0.0;
      return info_dict(loaded.info);
    });
  }

  State get_state() const {
    OptionsDict meta = summary();
    std::vector<torch::Tensor> tensors;
    if (head_) {
      meta.insert("units_per_stage", head_->units_per_stage());
      meta.insert("activation", activation_name(head_->activation()));
      head_->tensors().for_each([&](const char*, const torch::Tensor& x) { tensors.push_back(x); });
    }
    if (head_ && standardizer_.mean.defined()) {
      tensors.push_back(standardizer_.mean);
      tensors.push_back(standardizer_.scale);
    }
    return State(options(), meta, tensors, history());
  }

  static c10::intrusive_ptr<TorchTrainer> from_state(State state) {
    // Named references, not a structured binding: C++17 lambdas cannot capture bindings.
    const auto& opts = std::get<0>(state);
    const auto& meta = std::get<1>(state);
    const auto& tensors = std::get<2>(state);
    const auto& history = std::get<3>(state);
    auto t = c10::make_intrusive<TorchTrainer>(parse_options(opts));
    t->stages_trained_ = meta.at("stages_trained").toInt();
    t->best_stages_ = meta.at("best_stages").toInt();
    t->stop_reason_ = meta.at("stop_reason").toStringRef();
    t->fit_seconds_ = meta.at("fit_seconds").toDouble();
    if (!tensors.empty()) {
      TORCH_CHECK(tensors.size() == 6 || tensors.size() == 8,
                  "a pickled boosthead Trainer holds 6 or 8 tensors, got ", tensors.size());
      t->head_ = BoostedHead(tensors[0].size(1), meta.at("units_per_stage").toInt(),
                             activation_from_name(meta.at("activation").toStringRef()),
                             meta.at("loss").toStringRef(), tensors[5]);
      HeadTensors head;
      size_t i = 0;
      head.for_each([&](const char*, torch::Tensor& x) { x = tensors[i++]; });
      t->head_->set_tensors(head, tensors[0].options());
    }
    if (tensors.size() == 8) {
      t->standardizer_.mean = tensors[6];
      t->standardizer_.scale = tensors[7];
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
  Trainer trainer() const {
    Trainer t(options_);
    t.add_callback(feed_);
    return t;
  }

  OptionsDict adopt(FitResult r) {
    head_ = r.head;
    history_ = std::move(r.history);
    stages_trained_ = r.stages_trained;
    best_stages_ = r.best_stages;
    stop_reason_ = r.stop_reason;
    fit_seconds_ = r.fit_seconds;
    return summary();
  }

  data::Standardizer standardizer_or_identity() const {
    if (standardizer_.mean.defined()) return standardizer_;
    // Identity: the head takes the features it was fitted on.
    data::Standardizer s;
    s.mean = torch::zeros({head_->num_features()}, torch::kDouble);
    s.scale = torch::ones({head_->num_features()}, torch::kDouble);
    return s;
  }

  void check_fitted() const {
    if (!head_) value_error("this Trainer has not been fitted yet; call fit first");
  }

  // Checks the features (the head reports these with TORCH_CHECK, a RuntimeError; from Python
  // they are argument errors) and standardises them when the fit did.
  torch::Tensor prepare(const torch::Tensor& x, int64_t stages) const {
    check_fitted();
    const auto d = head_->num_features();
    if (!x.defined()) value_error("expected a feature tensor, got an undefined tensor");
    if (x.dim() != 2) {
      value_error(fmt::format("expected 2-D features (N x {}), got {}-D of shape [{}]", d, x.dim(),
                              fmt::join(x.sizes().vec(), ", ")));
    }
    if (x.size(1) != d) {
      value_error(fmt::format("expected {} feature columns, got {}", d, x.size(1)));
    }
    if (x.device() != head_->hidden_weight.device()) {
      value_error(fmt::format("features are on {} but the head is on {}", x.device().str(),
                              head_->hidden_weight.device().str()));
    }
    if (stages < -1 || stages > head_->num_stages()) {
      value_error(fmt::format("stages must be -1 (all) or in [0, {}], got {}", head_->num_stages(),
                              stages));
    }
    if (!standardizer_.mean.defined()) return x;
    return standardizer_.transform(x, head_->hidden_weight.scalar_type());
  }

  TrainerOptions options_;
  BoostedHead head_{nullptr};
  data::Standardizer standardizer_;
  std::vector<StageRecord> history_;
  int64_t stages_trained_ = 0;
  int64_t best_stages_ = 0;
  std::string stop_reason_;
  double fit_seconds_ = 0.0;
  std::shared_ptr<StageFeed> feed_ = std::make_shared<StageFeed>();
};

}  // namespace
}  // namespace boosthead::plugin

TORCH_LIBRARY(boosthead, m) {
  using boosthead::plugin::TorchTrainer;
  using Self = c10::intrusive_ptr<TorchTrainer>;
  m.def("option_types", &boosthead::plugin::option_types);
  m.class_<TorchTrainer>("Trainer")
      .def(torch::init([](boosthead::plugin::OptionsDict options) {
             return boosthead::plugin::python_errors([&] {
               return c10::make_intrusive<TorchTrainer>(boosthead::plugin::parse_options(options));
             });
           }),
           "A boosting trainer; options use the names of boosthead::TrainerOptions.",
           {torch::arg("options")})
      .def("options", &TorchTrainer::options, "All options, defaults included.")
      .def("set_process_group", &TorchTrainer::set_process_group,
           "Later fits are data-parallel over the processes of the torch.distributed group of "
           "this name (group.group_name), each with its share of the rows; None: this process "
           "alone.",
           {torch::arg("group_name")})
      .def("fit", &TorchTrainer::fit,
           "Fits on features (N x d) and targets; returns a summary dict.",
           {torch::arg("features"), torch::arg("targets")})
      .def("fit_with_validation", &TorchTrainer::fit_with_validation,
           "Fits with an explicit validation set; returns a summary dict.",
           {torch::arg("features"), torch::arg("targets"), torch::arg("valid_features"),
            torch::arg("valid_targets")})
      .def(
          "fit_tabular", &TorchTrainer::fit_tabular,
          "Fits on encoded, unstandardised features as the command line does (standardisation "
          "inside the model); returns a summary dict.",
          {torch::arg("features"), torch::arg("targets"),
           torch::arg("valid_features") = c10::nullopt, torch::arg("valid_targets") = c10::nullopt})
      .def("summary", &TorchTrainer::summary, "The last fit's summary.")
      .def("history", &TorchTrainer::history, "One dict per trained stage.")
      .def("progress", &TorchTrainer::progress,
           "Stage records of the running (or last) fit from index `first` on, waiting up to "
           "`timeout` seconds for one.",
           {torch::arg("first") = 0, torch::arg("timeout") = 0.0})
      .def("set_lockstep", &TorchTrainer::set_lockstep,
           "When on, each stage of later fits waits for acknowledge() before training goes on.",
           {torch::arg("on")})
      .def("acknowledge", &TorchTrainer::acknowledge,
           "The first `count` stages were seen; keep_going=False stops after them.",
           {torch::arg("count"), torch::arg("keep_going") = true})
      .def("request_stop", &TorchTrainer::request_stop,
           "Asks a running fit to stop after its current stage.")
      .def("scores", &TorchTrainer::scores, "Raw scores of the first `stages` stages.",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("predict", &TorchTrainer::predict,
           "Class indices (classification) or values (regression).",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("predict_proba", &TorchTrainer::predict_proba,
           "Class probabilities (classification) or values (regression).",
           {torch::arg("x"), torch::arg("stages") = -1})
      .def("staged", &TorchTrainer::staged,
           "Outputs ('scores', 'proba' or 'predict') after each of stages first+1..first+count.",
           {torch::arg("x"), torch::arg("kind"), torch::arg("first"), torch::arg("count")})
      .def("truncate", &TorchTrainer::truncate, "Keeps only the first `stages` stages.",
           {torch::arg("stages")})
      .def("num_stages", &TorchTrainer::num_stages, "Stages in the head (0 before fit).")
      .def("tensors", &TorchTrainer::tensors, "The head's tensors and its standardisation.")
      .def("head_info", &TorchTrainer::head_info, "Activation, loss and sizes of the head.")
      .def("to", &TorchTrainer::to, "Moves the head to a device (and dtype).",
           {torch::arg("device"), torch::arg("dtype") = c10::nullopt})
      .def("export", &TorchTrainer::export_model,
           "Writes the head as a boosthead model file for torch.jit.load.", {torch::arg("path")})
      .def("save_model", &TorchTrainer::save_model_with_info,
           "Writes the model file with feature names, class names and column encodings.",
           {torch::arg("path"), torch::arg("task"), torch::arg("target"),
            torch::arg("feature_names"), torch::arg("class_names"), torch::arg("columns"),
            torch::arg("categorical"), torch::arg("levels")})
      .def("load_model", &TorchTrainer::load_model_file,
           "Reads a model file into this trainer; returns its names and encodings.",
           {torch::arg("path"), torch::arg("device") = "cpu"})
      .def_pickle([](const Self& self) { return self->get_state(); },
                  [](boosthead::plugin::State state) {
                    return TorchTrainer::from_state(std::move(state));
                  });
}
