#include <boosthead/model_file.h>

#include "torchscript_head.h"
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

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

// Little-endian fields of a zip file; callers check the bounds.
uint64_t le(const std::string& b, uint64_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndRecord = 0x06054b50;
constexpr uint32_t kZip64EndRecord = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
// Deflate cannot expand data by more than this factor.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ZipRecord {
  std::string name;
  uint64_t flags = 0, method = 0, crc = 0, packed = 0, size = 0, offset = 0;
};

std::string inflate_raw(const char* data, uint64_t packed, uint64_t size, std::string& error) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    error = "cannot start zlib";
    return {};
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z.avail_in = static_cast<uInt>(packed);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(size);
  const int rc = inflate(&z, Z_FINISH);
  const uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size) {
    error = rc == Z_DATA_ERROR ? "corrupt deflate data" : "does not inflate to its stated size";
    return {};
  }
  return out;
}

}  // namespace

void check_torchscript_archive(const std::string& path, const std::string& what) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(
        fmt::format("{} '{}': not a readable TorchScript archive ({})", what, path, why));
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("it is a folder");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("{} '{}': cannot open it", what, path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::invalid_argument(fmt::format("{} '{}': cannot read it", what, path));
  const std::string bytes = buffer.str();
  const uint64_t n = bytes.size();
  if (n == 0) fail("the file is empty");
  if (n < 22 || le(bytes, 0, 4) != kLocalHeader) fail("not a zip file");

  // The end record is the last 22 bytes plus its comment; a cut-off file has none.
  uint64_t end = n;
  for (uint64_t back = 22; back <= std::min<uint64_t>(n, 22 + 0xFFFF); ++back) {
    const uint64_t at = n - back;
    if (le(bytes, at, 4) == kEndRecord && at + 22 + le(bytes, at + 20, 2) == n) {
      end = at;
      break;
    }
  }
  if (end == n) fail("no zip end record: the file is truncated or not a zip file");
  uint64_t count = le(bytes, end + 10, 2), cd_size = le(bytes, end + 12, 4),
           cd_offset = le(bytes, end + 16, 4);
  uint64_t cd_limit = end;
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (end < 20 || le(bytes, end - 20, 4) != kZip64Locator) fail("damaged zip64 end record");
    const uint64_t z = le(bytes, end - 20 + 8, 8);
    if (z > end - 20 || end - 20 - z < 56 || le(bytes, z, 4) != kZip64EndRecord) {
      fail("damaged zip64 end record");
    }
    count = le(bytes, z + 32, 8);
    cd_size = le(bytes, z + 40, 8);
    cd_offset = le(bytes, z + 48, 8);
    cd_limit = z;
  } else if (end >= 20 && le(bytes, end - 20, 4) == kZip64Locator) {
    cd_limit = std::min(cd_limit, le(bytes, end - 20 + 8, 8));
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
    fail("the central directory lies outside the file: it is truncated or corrupted");
  }
  if (count == 0) fail("the zip file has no records");
  if (count > cd_size / 46) fail("damaged central directory");

  std::vector<ZipRecord> records;
  uint64_t at = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - at < 46 || le(bytes, at, 4) != kCentralHeader) {
      fail(fmt::format("damaged central directory entry {}", i + 1));
    }
    ZipRecord r;
    r.flags = le(bytes, at + 8, 2);
    r.method = le(bytes, at + 10, 2);
    r.crc = le(bytes, at + 16, 4);
    r.packed = le(bytes, at + 20, 4);
    r.size = le(bytes, at + 24, 4);
    r.offset = le(bytes, at + 42, 4);
    const uint64_t name_len = le(bytes, at + 28, 2), extra_len = le(bytes, at + 30, 2),
                   comment_len = le(bytes, at + 32, 2);
    if (cd_end - at - 46 < name_len + extra_len + comment_len) {
      fail(fmt::format("damaged central directory entry {}", i + 1));
    }
    r.name = bytes.substr(at + 46, name_len);
    // Zip64 sizes and offset, in this order, for the fields that are saturated.
    for (uint64_t x = at + 46 + name_len, x_end = x + extra_len; x_end - x >= 4;) {
      const uint64_t id = le(bytes, x, 2), len = le(bytes, x + 2, 2);
      if (x_end - x - 4 < len) fail(fmt::format("record '{}' has a damaged extra field", r.name));
      if (id == 0x0001) {
        uint64_t f = x + 4;
        for (uint64_t* field : {&r.size, &r.packed, &r.offset}) {
          if (*field != 0xFFFFFFFF) continue;
          if (f + 8 > x + 4 + len) fail(fmt::format("record '{}' has a damaged zip64 field", r.name));
          *field = le(bytes, f, 8);
          f += 8;
        }
      }
      x += 4 + len;
    }
    records.push_back(std::move(r));
    at += 46 + name_len + extra_len + comment_len;
  }

  for (const auto& r : records) {
    if (r.flags & 1) fail(fmt::format("record '{}' is encrypted", r.name));
    if (r.offset > cd_offset || cd_offset - r.offset < 30 ||
        le(bytes, r.offset, 4) != kLocalHeader) {
      fail(fmt::format("record '{}' has a damaged local header", r.name));
    }
    const uint64_t name_len = le(bytes, r.offset + 26, 2),
                   extra_len = le(bytes, r.offset + 28, 2);
    const uint64_t data = r.offset + 30 + name_len + extra_len;
    if (data > cd_offset || bytes.compare(r.offset + 30, name_len, r.name) != 0) {
      fail(fmt::format("record '{}' has a damaged local header", r.name));
    }
    if (r.packed > cd_offset - data) {
      fail(fmt::format("record '{}' runs past its end: the file is corrupted", r.name));
    }
    const char* start = bytes.data() + data;
    uLong crc = 0;
    if (r.method == 0) {
      if (r.packed != r.size) fail(fmt::format("record '{}' has inconsistent sizes", r.name));
      for (uint64_t done = 0; done < r.size;) {
        const auto chunk = static_cast<uInt>(std::min<uint64_t>(r.size - done, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(start + done), chunk);
        done += chunk;
      }
    } else if (r.method == 8) {
      if (r.size > r.packed * kMaxDeflateRatio + 64 || r.packed > 0xFFFFFFFFu ||
          r.size > 0xFFFFFFFFu) {
        fail(fmt::format("record '{}' has impossible sizes", r.name));
      }
      std::string error;
      const std::string plain = inflate_raw(start, r.packed, r.size, error);
      if (!error.empty()) fail(fmt::format("record '{}': {}", r.name, error));
      crc = crc32(0, reinterpret_cast<const Bytef*>(plain.data()), static_cast<uInt>(plain.size()));
    } else {
      fail(fmt::format("record '{}' uses unsupported compression method {}", r.name, r.method));
    }
    if (crc != r.crc) {
      fail(fmt::format("record '{}' fails its CRC-32 check: the file is corrupted", r.name));
    }
  }

  // LibTorch's layout: every record in one folder, with the pickles and a version.
  const std::string folder = records.front().name.substr(0, records.front().name.find('/'));
  std::set<std::string> names;
  for (const auto& r : records) {
    const auto slash = r.name.find('/');
    if (slash == std::string::npos) {
      fail(fmt::format("a zip file but not TorchScript: record '{}' is not in a folder", r.name));
    }
    if (r.name.compare(0, slash, folder) != 0 || slash != folder.size()) {
      fail(fmt::format("a zip file but not TorchScript: records in two folders, '{}' and '{}'",
                       folder, r.name.substr(0, slash)));
    }
    names.insert(r.name.substr(slash + 1));
  }
  for (const char* required : {"data.pkl", "constants.pkl"}) {
    if (!names.count(required)) {
      fail(fmt::format("a zip file but not TorchScript: no record '{}/{}'", folder, required));
    }
  }
  if (!names.count("version") && !names.count(".data/version")) {
    fail(fmt::format("a zip file but not TorchScript: no record '{}/version'", folder));
  }
}

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
           "    return self.forward_stages(x, self.stages)\n" + kColumnMethods);
  detail::write_atomically(path, "model file", [&](const std::string& tmp) { m.save(tmp); });
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
    torch::NoGradGuard no_grad;
    out.head->hidden_weight.set_data(hw.clone());
    out.head->hidden_bias.set_data(hb.clone());
    out.head->output_weight.set_data(ow.clone());
    out.head->output_bias.set_data(ob.clone());
    out.head->stage_output_bias.set_data(sb.clone());
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
    bad_file(path, "missing, mistyped or invalid attribute (" + what.substr(0, what.find('\n')) +
                       ")");
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
  m.register_buffer("hidden_weight", cpu(head.hidden_weight));
  m.register_buffer("hidden_bias", cpu(head.hidden_bias));
  m.register_buffer("output_weight", cpu(head.output_weight));
  m.register_buffer("output_bias", cpu(head.output_bias));
  m.register_buffer("stage_output_bias", cpu(head.stage_output_bias));
  m.register_buffer("initial_score", cpu(head.initial_score));
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

void write_atomically(const std::string& path, const std::string& what,
                      const std::function<void(const std::string&)>& write) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  try {
    write(tmp);
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("flush failed");
    }
    ::close(fd);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    const std::string why = c10e ? c10e->what_without_backtrace() : e.what();
    throw std::runtime_error(
        fmt::format("cannot write {} '{}': {}", what, path, why.substr(0, why.find('\n'))));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write {} '{}'", what, path));
  }
}

}  // namespace detail
}  // namespace boosthead
