#include <boosthead/model_file.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>

#include <stdexcept>

#include "io/atomic_file.h"
#include "torchscript_head.h"

namespace boosthead {
namespace {

constexpr const char* kFormat = "boosthead-model";
constexpr int64_t kFormatVersion = 1;

// The model's own encoding of raw columns, so that callers need not know the column order.
// Checks use assert: `raise` does not compile without Python's resolver.
constexpr const char* kColumnMethods = R"JIT(
def encode_columns(self, numeric: Dict[str, Tensor], categorical: Dict[str, List[str]]) -> Tensor:
    for name in numeric.keys():
        assert name in self.input_columns, "unexpected column '" + name + "'; the model's input columns are " + ", ".join(self.input_columns)
        assert name not in self.categorical_levels, "column '" + name + "' is categorical: pass it as a list of strings"
    for name in categorical.keys():
        assert name in self.input_columns, "unexpected column '" + name + "'; the model's input columns are " + ", ".join(self.input_columns)
        assert name in self.categorical_levels, "column '" + name + "' is numeric: pass it as a tensor"
    parts: List[Tensor] = []
    rows = -1
    for name in self.input_columns:
        if name in self.categorical_levels:
            assert name in categorical, "column '" + name + "' is missing (categorical: a list of strings)"
            values = categorical[name]
            levels = self.categorical_levels[name]
            index: Dict[str, int] = {}
            for j in range(len(levels)):
                index[levels[j]] = j
            part = torch.zeros([len(values), len(levels)], dtype=self.feature_mean.dtype)
            for i in range(len(values)):
                if values[i] in index:
                    part[i, index[values[i]]] = 1.0
        else:
            assert name in numeric, "column '" + name + "' is missing (numeric: a 1-D tensor)"
            column = numeric[name]
            assert column.dim() == 1, "column '" + name + "' must be 1-D, got " + str(column.dim()) + "-D"
            part = column.cpu().to(self.feature_mean.dtype).reshape([-1, 1])
        if rows < 0:
            rows = part.size(0)
        assert part.size(0) == rows, "column '" + name + "' has " + str(part.size(0)) + " rows, the others " + str(rows)
        parts.append(part)
    return torch.cat(parts, 1).to(self.feature_mean.device)

def forward_columns(self, numeric: Dict[str, Tensor], categorical: Dict[str, List[str]]) -> Tensor:
    return self.forward(self.encode_columns(numeric, categorical))
)JIT";

[[noreturn]] void bad_file(const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("model file '{}': {}", path, why));
}

}  // namespace

void save_model(const std::string& path, const BoostedHeadImpl& head, const ModelInfo& info) {
  TORCH_CHECK(info.task == "classification" || info.task == "regression",
              "model task must be classification or regression, got '", info.task, "'");
  TORCH_CHECK(static_cast<int64_t>(info.feature_names.size()) == head.num_features(), "model has ",
              head.num_features(), " features but ", info.feature_names.size(), " feature names");
  TORCH_CHECK(
      info.standardizer.mean.defined() && info.standardizer.mean.numel() == head.num_features(),
      "model standardisation must have ", head.num_features(), " entries");
  torch::NoGradGuard no_grad;
  torch::jit::Module m(c10::QualifiedName("__torch__.boosthead.BoostedModel"));
  detail::register_head(m, head, info.standardizer);
  m.register_attribute("format", c10::StringType::get(), std::string(kFormat));
  m.register_attribute("format_version", c10::IntType::get(), kFormatVersion);
  m.register_attribute("task", c10::StringType::get(), info.task);
  m.register_attribute("target", c10::StringType::get(), info.target);
  m.register_attribute("feature_names", c10::ListType::ofStrings(),
                       detail::string_list(info.feature_names));
  m.register_attribute("class_names", c10::ListType::ofStrings(),
                       detail::string_list(info.class_names));
  std::vector<std::string> inputs;
  c10::Dict<std::string, c10::List<std::string>> levels;
  for (const auto& c : info.columns) {
    inputs.push_back(c.name);
    if (c.categorical) levels.insert(c.name, detail::string_list(c.levels));
  }
  m.register_attribute("input_columns", c10::ListType::ofStrings(), detail::string_list(inputs));
  m.register_attribute("categorical_levels",
                       c10::DictType::create(c10::StringType::get(), c10::ListType::ofStrings()),
                       levels);
  m.register_attribute("ignored_columns", c10::ListType::ofStrings(),
                       detail::string_list(info.ignored_columns));
  m.define(detail::head_methods("scores", "forward_stages", "feature columns") +
           "\ndef forward(self, x: Tensor) -> Tensor:\n"
           "    return self.forward_stages(x, self.stages)\n" +
           kColumnMethods);
  io::write_atomically(path, "model file", [&](const std::string& tmp) { m.save(tmp); });
}

LoadedModel load_model(const std::string& path, torch::Device device) {
  check_torchscript_archive(path, "model file");
  torch::jit::Module m;
  try {
    m = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    std::string what = e.what();
    bad_file(path, "not a readable TorchScript archive (" + what.substr(0, what.find('\n')) + ")");
  }
  if (!m.hasattr("format") || !m.attr("format").isString() ||
      m.attr("format").toStringRef() != kFormat) {
    bad_file(path, "a TorchScript archive but not a boosthead model (no format 'boosthead-model')");
  }
  try {
    const int64_t version = m.attr("format_version").toInt();
    if (version > kFormatVersion) {
      bad_file(path, fmt::format("format version {} is newer than this boosthead reads ({})",
                                 version, kFormatVersion));
    }
    LoadedModel out;
    auto& info = out.info;
    info.task = m.attr("task").toStringRef();
    info.target = m.attr("target").toStringRef();
    info.feature_names = detail::strings_of(m.attr("feature_names"));
    info.class_names = detail::strings_of(m.attr("class_names"));
    auto levels = m.attr("categorical_levels").toGenericDict();
    for (const auto& name : detail::strings_of(m.attr("input_columns"))) {
      data::ColumnEncoding c;
      c.name = name;
      auto it = levels.find(name);
      if (it != levels.end()) {
        c.categorical = true;
        c.levels = detail::strings_of(it->value());
      }
      info.columns.push_back(std::move(c));
    }
    if (m.hasattr("ignored_columns")) {
      info.ignored_columns = detail::strings_of(m.attr("ignored_columns"));
    }
    info.standardizer.mean = m.attr("feature_mean").toTensor();
    info.standardizer.scale = m.attr("feature_scale").toTensor();

    HeadTensors tensors;
    tensors.for_each([&](const char* name, torch::Tensor& t) { t = m.attr(name).toTensor(); });
    const auto& hw = tensors.hidden_weight;
    const auto& hb = tensors.hidden_bias;
    const auto& ow = tensors.output_weight;
    const auto& ob = tensors.output_bias;
    const auto& sb = tensors.stage_output_bias;
    const auto& f0 = tensors.initial_score;
    const int64_t units = m.attr("units_per_stage").toInt();
    const int64_t stages = m.attr("stages").toInt();
    const int64_t d = static_cast<int64_t>(info.feature_names.size());
    const int64_t k = f0.numel();
    if (units < 1 || stages < 0 || hw.dim() != 2 || hw.size(0) != stages * units ||
        hw.size(1) != d || hb.numel() != stages * units || ow.dim() != 2 || ow.size(0) != k ||
        ow.size(1) != stages * units || ob.numel() != k || sb.dim() != 2 || sb.size(0) != stages ||
        info.standardizer.mean.numel() != d || info.standardizer.scale.numel() != d) {
      bad_file(path, fmt::format("inconsistent shapes (stages {}, units {}, hidden weight {}, "
                                 "output weight {}, {} feature names)",
                                 stages, units, fmt::join(hw.sizes().vec(), "x"),
                                 fmt::join(ow.sizes().vec(), "x"), d));
    }
    const auto dtype = hw.scalar_type();
    for (const auto& t : {hw, hb, ow, ob, sb, f0}) {
      if (t.scalar_type() != dtype || (dtype != torch::kFloat && dtype != torch::kDouble)) {
        bad_file(path, fmt::format("weights must all be float32 or all float64, got {} and {}",
                                   c10::toString(dtype), c10::toString(t.scalar_type())));
      }
      if (!torch::isfinite(t).all().item<bool>()) bad_file(path, "weights contain NaN or Inf");
    }
    const auto& mean = info.standardizer.mean;
    const auto& scale = info.standardizer.scale;
    if (!mean.is_floating_point() || !scale.is_floating_point() ||
        !torch::isfinite(mean).all().item<bool>() || !torch::isfinite(scale).all().item<bool>() ||
        !(scale > 0).all().item<bool>()) {
      bad_file(path, "feature standardisation must be finite numbers with positive scales");
    }
    out.head = BoostedHead(d, units, activation_from_name(m.attr("activation").toStringRef()),
                           m.attr("loss").toStringRef(), f0);
    out.head->set_tensors(tensors, hw.options());
    out.head->to(device);
    return out;
  } catch (const std::invalid_argument& e) {
    // Ours already name the file; others come from a bad activation or loss name.
    if (std::string(e.what()).rfind("model file '", 0) == 0) throw;
    bad_file(path, e.what());
  } catch (const std::exception& e) {
    // c10::Error for a mistyped attribute or a bad head, torch::jit::ObjectAttributeError for a
    // missing attribute.
    std::string what = e.what();
    bad_file(path,
             "missing, mistyped or invalid attribute (" + what.substr(0, what.find('\n')) + ")");
  }
}

namespace detail {

c10::List<std::string> string_list(const std::vector<std::string>& v) {
  c10::List<std::string> out;
  for (const auto& s : v) out.push_back(s);
  return out;
}

std::vector<std::string> strings_of(const c10::IValue& v) {
  std::vector<std::string> out;
  for (const auto& e : v.toListRef()) out.push_back(e.toStringRef());
  return out;
}

void register_head(torch::jit::Module& m, const BoostedHeadImpl& head,
                   const data::Standardizer& standardizer) {
  auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); };
  head.tensors().for_each(
      [&](const char* name, const torch::Tensor& t) { m.register_buffer(name, cpu(t)); });
  m.register_buffer("feature_mean", cpu(standardizer.mean).to(torch::kDouble));
  m.register_buffer("feature_scale", cpu(standardizer.scale).to(torch::kDouble));
  m.register_attribute("loss", c10::StringType::get(), head.loss());
  m.register_attribute("activation", c10::StringType::get(), activation_name(head.activation()));
  m.register_attribute("stages", c10::IntType::get(), head.num_stages());
  m.register_attribute("units_per_stage", c10::IntType::get(), head.units_per_stage());
}

// Checks use assert: `raise RuntimeError(...)` does not compile without Python's resolver.
std::string head_methods(const std::string& scores_name, const std::string& outputs_name,
                         const std::string& columns) {
  return fmt::format(R"JIT(
def {0}(self, x: Tensor, stages: int) -> Tensor:
    d = self.hidden_weight.size(1)
    assert x.dim() == 2, "expected 2-D features (rows x " + str(d) + "), got " + str(x.dim()) + "-D"
    assert x.size(1) == d, "expected " + str(d) + " {2}, got " + str(x.size(1))
    assert stages >= 0 and stages <= self.stages, "stages must be in [0, " + str(self.stages) + "], got " + str(stages)
    z = ((x.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_scale).to(self.hidden_weight.dtype)
    units = stages * self.units_per_stage
    if stages == self.stages:
        bias = self.output_bias
    else:
        bias = self.initial_score + self.stage_output_bias[:stages].sum(0)
    h = torch.addmm(self.hidden_bias[:units], z, self.hidden_weight[:units].t())
    if self.activation == "sigmoid":
        h = torch.sigmoid(h)
    elif self.activation == "tanh":
        h = torch.tanh(h)
    else:
        h = torch.relu(h)
    return torch.addmm(bias, h, self.output_weight[:, :units].t())

def {1}(self, x: Tensor, stages: int) -> Tensor:
    f = self.{0}(x, stages)
    if self.loss == "multinomial":
        return torch.softmax(f, 1)
    if self.loss == "binary_logistic":
        p = torch.sigmoid(f)
        return torch.cat([1.0 - p, p], 1)
    return f
)JIT",
                     scores_name, outputs_name, columns);
}

}  // namespace detail
}  // namespace boosthead
