#include <boosthead/model_file.h>
#include <boosthead/pipeline.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "torchscript_head.h"

namespace boosthead {
namespace {

constexpr const char* kFormat = "boosthead-pipeline";
constexpr int64_t kFormatVersion = 1;

// Image entry points over the shared head methods (detail::head_methods).
constexpr const char* kImageMethods = R"JIT(
def scores(self, images: Tensor, stages: int) -> Tensor:
    return self.head_scores(self.features(images), stages)

def forward_stages(self, images: Tensor, stages: int) -> Tensor:
    return self.head_forward_stages(self.features(images), stages)

def forward(self, images: Tensor) -> Tensor:
    return self.forward_stages(images, self.stages)
)JIT";

std::string error_text(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) return c10e->what_without_backtrace();
  return e.what();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

[[noreturn]] void bad_file(const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("pipeline file '{}': {}", path, why));
}

torch::jit::Module load_archive(const std::string& path, torch::Device device,
                                const char* what = "pipeline file") {
  check_torchscript_archive(path, what);
  try {
    return torch::jit::load(path, device);
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format("{} '{}': not a readable TorchScript archive ({})",
                                            what, path, first_line(error_text(e))));
  }
}

}  // namespace

void save_pipeline(const std::string& path, const FrozenBackbone& backbone,
                   const BoostedHeadImpl& head, const PipelineInfo& info) {
  if (info.task != "classification" && info.task != "regression") {
    throw std::invalid_argument(
        fmt::format("pipeline task must be classification or regression, got '{}'", info.task));
  }
  const int64_t d = head.num_features();
  if (!info.standardizer.mean.defined() || info.standardizer.mean.numel() != d ||
      !info.standardizer.scale.defined() || info.standardizer.scale.numel() != d) {
    throw std::invalid_argument(
        fmt::format("pipeline standardisation must have {} entries (the head's features), got {}",
                    d, info.standardizer.mean.defined() ? info.standardizer.mean.numel() : 0));
  }
  if (backbone.num_features() != 0 && backbone.num_features() != d) {
    throw std::invalid_argument(fmt::format("backbone '{}' gave {} features but the head takes {}",
                                            backbone.path(), backbone.num_features(), d));
  }
  const auto outputs = static_cast<size_t>(head.num_outputs());
  const size_t expected_names =
      info.task == "classification" ? static_cast<size_t>(head.num_classes()) : outputs;
  if (info.class_names.size() != expected_names) {
    throw std::invalid_argument(fmt::format(
        "pipeline head has {} {} but {} names were given", expected_names,
        info.task == "classification" ? "classes" : "outputs", info.class_names.size()));
  }

  torch::NoGradGuard no_grad;
  torch::jit::Module bb = backbone.module();
  if (!backbone.device().is_cpu()) {
    bb = bb.clone();
    bb.to(torch::kCPU);
  }
  torch::jit::Module m(c10::QualifiedName("__torch__.boosthead.BoostedPipeline"));
  m.register_module("backbone", bb);
  detail::register_head(m, head, info.standardizer);
  m.register_attribute("format", c10::StringType::get(), std::string(kFormat));
  m.register_attribute("format_version", c10::IntType::get(), kFormatVersion);
  m.register_attribute("task", c10::StringType::get(), info.task);
  m.register_attribute("num_features", c10::IntType::get(), d);
  m.register_attribute("class_names", c10::ListType::ofStrings(),
                       detail::string_list(info.class_names));
  m.register_attribute("feature_module", c10::StringType::get(), backbone.feature());

  // The selector was checked against the module when the backbone was loaded, so it is a dotted
  // identifier path (or empty) and safe to splice into the source.
  // Calling a submodule needs an explicit .forward in sources compiled from C++.
  std::string call = "self.backbone.forward(images)";
  if (backbone.feature_kind() == "submodule")
    call = "self.backbone." + backbone.feature() + ".forward(images)";
  else if (backbone.feature_kind() == "method")
    call = "self.backbone." + backbone.feature() + "(images)";
  const std::string features_method = fmt::format(
      "def features(self, images: Tensor) -> Tensor:\n"
      "    f = {}\n"
      "    return f.reshape(f.size(0), -1)\n",
      call);
  try {
    m.define(
        features_method +
        detail::head_methods("head_scores", "head_forward_stages", "features from the backbone") +
        kImageMethods);
  } catch (const std::exception& e) {
    throw std::invalid_argument(
        fmt::format("backbone '{}': cannot build the pipeline around {} (it must take one tensor "
                    "and return one): {}",
                    backbone.path(), call.substr(5), error_text(e)));
  }
  m.eval();

  io::write_atomically(path, "pipeline file", [&](const std::string& tmp) { m.save(tmp); });
}

std::string archive_format(const std::string& path) {
  auto m = load_archive(path, torch::kCPU, "model file");
  if (m.hasattr("format") && m.attr("format").isString()) return m.attr("format").toStringRef();
  return "";
}

LoadedPipeline load_pipeline(const std::string& path, torch::Device device) {
  torch::jit::Module m = load_archive(path, device);
  const std::string format =
      m.hasattr("format") && m.attr("format").isString() ? m.attr("format").toStringRef() : "";
  if (format == "boosthead-model") {
    bad_file(path,
             "a tabular boosthead model (format 'boosthead-model'), not a pipeline with a "
             "backbone");
  }
  if (format != kFormat) {
    bad_file(path,
             "a TorchScript archive but not a boosthead pipeline (no format "
             "'boosthead-pipeline')");
  }
  LoadedPipeline out;
  try {
    const int64_t version = m.attr("format_version").toInt();
    if (version > kFormatVersion) {
      bad_file(path, fmt::format("format version {} is newer than this boosthead reads ({})",
                                 version, kFormatVersion));
    }
    out.task = m.attr("task").toStringRef();
    out.loss = m.attr("loss").toStringRef();
    out.class_names = detail::strings_of(m.attr("class_names"));
    out.feature_module = m.attr("feature_module").toStringRef();
    out.stages = m.attr("stages").toInt();
    out.units_per_stage = m.attr("units_per_stage").toInt();
    out.num_features = m.attr("num_features").toInt();
    const auto hw = m.attr("hidden_weight").toTensor();
    const auto ow = m.attr("output_weight").toTensor();
    if (out.stages < 0 || out.units_per_stage < 1 || hw.dim() != 2 ||
        hw.size(0) != out.stages * out.units_per_stage || hw.size(1) != out.num_features ||
        ow.dim() != 2 || ow.size(1) != hw.size(0) ||
        (ow.size(0) != static_cast<int64_t>(out.class_names.size()) &&
         !(out.loss == "binary_logistic" && out.class_names.size() == 2))) {
      bad_file(path, fmt::format("inconsistent shapes (stages {}, units {}, hidden weight {}, "
                                 "output weight {}, {} class names)",
                                 out.stages, out.units_per_stage, fmt::join(hw.sizes().vec(), "x"),
                                 fmt::join(ow.sizes().vec(), "x"), out.class_names.size()));
    }
    if (!m.find_method("forward_stages") || !m.find_method("features"))
      bad_file(path, "missing the forward_stages or features method");
  } catch (const c10::Error& e) {
    bad_file(path,
             "missing or mistyped attribute (" + first_line(e.what_without_backtrace()) + ")");
  }
  m.eval();
  out.module = m;
  out.device = device;
  return out;
}

torch::ScalarType LoadedPipeline::dtype() const {
  return module.attr("hidden_weight").toTensor().scalar_type();
}

torch::Tensor LoadedPipeline::predict(const torch::Tensor& images, int64_t stages,
                                      int64_t batch_size, const ExtractProgress& progress) {
  if (batch_size < 1)
    throw std::invalid_argument(fmt::format("batch size must be positive, got {}", batch_size));
  if (stages < 0) stages = this->stages;
  if (stages > this->stages) {
    throw std::invalid_argument(
        fmt::format("stages must be at most {} (the pipeline's), got {}", this->stages, stages));
  }
  if (!images.defined() || images.dim() < 1 || images.size(0) == 0)
    throw std::invalid_argument("expected a non-empty batch of images");
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  torch::Tensor out;
  auto method = module.get_method("forward_stages");
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    torch::Tensor p;
    {
      c10::InferenceMode inference;
      p = method({images.narrow(0, start, len).to(device), stages}).toTensor().to(torch::kCPU);
    }
    if (!out.defined()) out = torch::empty({n, p.size(1)}, p.options());
    out.narrow(0, start, len).copy_(p);
    if (progress) progress(start + len, n);
  }
  return out;
}

BackboneFitResult fit_on_backbone(FrozenBackbone& backbone, Trainer& trainer,
                                  const torch::Tensor& inputs, const torch::Tensor& targets,
                                  const BackboneFitOptions& options,
                                  const ExtractProgress& progress) {
  if (!inputs.defined() || !targets.defined() || inputs.dim() < 1 || targets.dim() < 1 ||
      inputs.size(0) != targets.size(0)) {
    throw std::invalid_argument(
        fmt::format("expected as many targets as inputs, got {} inputs and {} targets",
                    inputs.defined() && inputs.dim() > 0 ? inputs.size(0) : 0,
                    targets.defined() && targets.dim() > 0 ? targets.size(0) : 0));
  }
  BackboneFitResult out;
  const auto t0 = std::chrono::steady_clock::now();
  const auto x = backbone.extract_cached(inputs, options.feature_cache(), options.batch_size(),
                                         progress, &out.features_from_cache);
  out.extract_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto& o = trainer.options();
  torch::Tensor x_train = x, y_train = targets, x_valid, y_valid;
  // Split here rather than in the trainer so that the standardisation sees training rows only.
  if (o.valid_fraction() > 0.0) {
    const auto [train_idx, valid_idx] =
        split_indices(x.size(0), o.valid_fraction(), o.seed(),
                      targets.is_floating_point() ? torch::Tensor() : targets.to(torch::kLong));
    x_train = x.index_select(0, train_idx);
    y_train = targets.index_select(0, train_idx.to(targets.device()));
    x_valid = x.index_select(0, valid_idx);
    y_valid = targets.index_select(0, valid_idx.to(targets.device()));
  }
  out.standardizer = data::Standardizer::fit(x_train);
  const torch::ScalarType dtype = o.dtype().value_or(torch::kFloat);
  out.fit = x_valid.defined() ? trainer.fit(out.standardizer.transform(x_train, dtype), y_train,
                                            out.standardizer.transform(x_valid, dtype), y_valid)
                              : trainer.fit(out.standardizer.transform(x_train, dtype), y_train);
  out.train_rows = x_train.size(0);
  out.valid_rows = x_valid.defined() ? x_valid.size(0) : 0;
  return out;
}

}  // namespace boosthead
