#include <boosthead/model_file.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace boosthead {
namespace {

constexpr const char* kFormat = "boosthead-model";
constexpr int64_t kFormatVersion = 1;

// TorchScript methods of the model file. Standardisation runs in float64, as in training.
// Checks use assert: `raise RuntimeError(...)` does not compile without Python's resolver.
constexpr const char* kMethods = R"JIT(
def scores(self, x: Tensor, stages: int) -> Tensor:
    d = self.hidden_weight.size(1)
    assert x.dim() == 2, "expected 2-D features (rows x " + str(d) + "), got " + str(x.dim()) + "-D"
    assert x.size(1) == d, "expected " + str(d) + " feature columns, got " + str(x.size(1))
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

def forward_stages(self, x: Tensor, stages: int) -> Tensor:
    f = self.scores(x, stages)
    if self.loss == "multinomial":
        return torch.softmax(f, 1)
    if self.loss == "binary_logistic":
        p = torch.sigmoid(f)
        return torch.cat([1.0 - p, p], 1)
    return f

def forward(self, x: Tensor) -> Tensor:
    return self.forward_stages(x, self.stages)
)JIT";

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
  auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); };
  m.register_buffer("hidden_weight", cpu(head.hidden_weight));
  m.register_buffer("hidden_bias", cpu(head.hidden_bias));
  m.register_buffer("output_weight", cpu(head.output_weight));
  m.register_buffer("output_bias", cpu(head.output_bias));
  m.register_buffer("stage_output_bias", cpu(head.stage_output_bias));
  m.register_buffer("initial_score", cpu(head.initial_score));
  m.register_buffer("feature_mean", cpu(info.standardizer.mean).to(torch::kDouble));
  m.register_buffer("feature_scale", cpu(info.standardizer.scale).to(torch::kDouble));
  m.register_attribute("format", c10::StringType::get(), std::string(kFormat));
  m.register_attribute("format_version", c10::IntType::get(), kFormatVersion);
  m.register_attribute("task", c10::StringType::get(), info.task);
  m.register_attribute("target", c10::StringType::get(), info.target);
  m.register_attribute("loss", c10::StringType::get(), head.loss());
  m.register_attribute("activation", c10::StringType::get(), activation_name(head.activation()));
  m.register_attribute("stages", c10::IntType::get(), head.num_stages());
  m.register_attribute("units_per_stage", c10::IntType::get(), head.units_per_stage());
  m.register_attribute("feature_names", c10::ListType::ofStrings(),
                       string_list(info.feature_names));
  m.register_attribute("class_names", c10::ListType::ofStrings(), string_list(info.class_names));
  std::vector<std::string> inputs;
  c10::Dict<std::string, c10::List<std::string>> levels;
  for (const auto& c : info.columns) {
    inputs.push_back(c.name);
    if (c.categorical) levels.insert(c.name, string_list(c.levels));
  }
  m.register_attribute("input_columns", c10::ListType::ofStrings(), string_list(inputs));
  m.register_attribute("categorical_levels",
                       c10::DictType::create(c10::StringType::get(), c10::ListType::ofStrings()),
                       levels);
  m.define(kMethods);

  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  try {
    m.save(tmp);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write model file '{}': {}", path, e.what()));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write model file '{}'", path));
  }
}

LoadedModel load_model(const std::string& path, torch::Device device) {
  if (!std::ifstream(path).good()) bad_file(path, "cannot open it");
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
    info.feature_names = strings_of(m.attr("feature_names"));
    info.class_names = strings_of(m.attr("class_names"));
    auto levels = m.attr("categorical_levels").toGenericDict();
    for (const auto& name : strings_of(m.attr("input_columns"))) {
      data::ColumnEncoding c;
      c.name = name;
      auto it = levels.find(name);
      if (it != levels.end()) {
        c.categorical = true;
        c.levels = strings_of(it->value());
      }
      info.columns.push_back(std::move(c));
    }
    info.standardizer.mean = m.attr("feature_mean").toTensor();
    info.standardizer.scale = m.attr("feature_scale").toTensor();

    auto hw = m.attr("hidden_weight").toTensor();
    auto hb = m.attr("hidden_bias").toTensor();
    auto ow = m.attr("output_weight").toTensor();
    auto ob = m.attr("output_bias").toTensor();
    auto sb = m.attr("stage_output_bias").toTensor();
    auto f0 = m.attr("initial_score").toTensor();
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
    for (const auto& t : {hw, hb, ow, ob, sb, f0}) {
      if (!torch::isfinite(t).all().item<bool>()) bad_file(path, "weights contain NaN or Inf");
    }
    out.head = BoostedHead(d, units, activation_from_name(m.attr("activation").toStringRef()),
                           m.attr("loss").toStringRef(), f0);
    torch::NoGradGuard no_grad;
    out.head->hidden_weight.set_data(hw.clone());
    out.head->hidden_bias.set_data(hb.clone());
    out.head->output_weight.set_data(ow.clone());
    out.head->output_bias.set_data(ob.clone());
    out.head->stage_output_bias.set_data(sb.clone());
    out.head->to(device);
    return out;
  } catch (const c10::Error& e) {
    std::string what = e.what();
    bad_file(path, "missing or mistyped attribute (" + what.substr(0, what.find('\n')) + ")");
  }
}

}  // namespace boosthead
