#include <boosthead/backbone.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cctype>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "torchscript_head.h"

namespace boosthead {
namespace {

constexpr const char* kCacheFormat = "boosthead-feature-cache";

std::string error_text(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) return c10e->what_without_backtrace();
  return e.what();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    parts.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::vector<std::string> child_names(const torch::jit::Module& m) {
  std::vector<std::string> out;
  for (const auto& c : m.named_children()) out.push_back(c.name);
  return out;
}

std::vector<std::string> method_names(const torch::jit::Module& m) {
  std::vector<std::string> out;
  for (const auto& method : m.get_methods()) out.push_back(method.name());
  return out;
}

std::string listing(const torch::jit::Module& m) {
  const auto children = child_names(m);
  const auto methods = method_names(m);
  return fmt::format("submodules: {}; methods: {}",
                     children.empty() ? "(none)" : fmt::format("{}", fmt::join(children, ", ")),
                     methods.empty() ? "(none)" : fmt::format("{}", fmt::join(methods, ", ")));
}

bool has_child(const torch::jit::Module& m, const std::string& name) {
  for (const auto& c : m.named_children()) {
    if (c.name == name) return true;
  }
  return false;
}

uint64_t hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("backbone file '{}': cannot open it", path));
  std::vector<char> buf(1 << 16);
  uint64_t h = fnv1a64(nullptr, 0);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a64(buf.data(), static_cast<size_t>(in.gcount()), h);
  }
  return h;
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t size, uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ULL;
  }
  return hash;
}

FrozenBackbone::FrozenBackbone(const std::string& path, const std::string& feature,
                               torch::Device device)
    : path_(path), feature_(feature), device_(device) {
  file_hash_ = hash_file(path);
  try {
    module_ = torch::jit::load(path, device);
  } catch (const std::exception& e) {
    throw std::invalid_argument(
        fmt::format("backbone file '{}': not a readable TorchScript archive ({})", path,
                    first_line(error_text(e))));
  }
  module_.eval();
  for (auto p : module_.parameters()) p.requires_grad_(false);

  if (feature.empty() || feature == "forward") {
    if (!module_.find_method("forward")) {
      throw std::invalid_argument(
          fmt::format("backbone file '{}': expected a forward method to take features from; {}",
                      path, listing(module_)));
    }
    kind_ = "forward";
    target_ = module_;
    method_ = "forward";
    return;
  }
  const auto parts = split_dots(feature);
  for (const auto& part : parts) {
    if (!is_identifier(part)) {
      throw std::invalid_argument(
          fmt::format("backbone file '{}': feature module '{}' is not a dotted name of identifiers",
                      path, feature));
    }
  }
  torch::jit::Module current = module_;
  std::string where = "the backbone";
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!has_child(current, parts[i])) {
      throw std::invalid_argument(
          fmt::format("backbone file '{}': feature module '{}': {} has no submodule '{}'; {}", path,
                      feature, where, parts[i], listing(current)));
    }
    current = current.attr(parts[i]).toModule();
    where = fmt::format("submodule '{}'", fmt::join(parts.begin(), parts.begin() + i + 1, "."));
  }
  const std::string& last = parts.back();
  if (has_child(current, last)) {
    target_ = current.attr(last).toModule();
    if (!target_.find_method("forward")) {
      throw std::invalid_argument(
          fmt::format("backbone file '{}': feature module '{}' has no forward method; {}", path,
                      feature, listing(target_)));
    }
    kind_ = "submodule";
    method_ = "forward";
  } else if (current.find_method(last)) {
    target_ = current;
    kind_ = "method";
    method_ = last;
  } else {
    throw std::invalid_argument(fmt::format(
        "backbone file '{}': expected a submodule or method '{}' of {} to take features from, "
        "found none; {}",
        path, last, where, listing(current)));
  }
}

torch::Tensor FrozenBackbone::run_batch(const torch::Tensor& batch) {
  c10::IValue out;
  try {
    out = target_.get_method(method_)({batch});
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format(
        "backbone file '{}': {} failed on inputs of shape [{}] ({}): {}", path_,
        kind_ == "forward" ? std::string("forward") : fmt::format("{} '{}'", kind_, feature_),
        fmt::join(batch.sizes().vec(), ", "), c10::toString(batch.scalar_type()), error_text(e)));
  }
  if (!out.isTensor()) {
    throw std::invalid_argument(
        fmt::format("backbone file '{}': feature module '{}' returned {}, expected a tensor", path_,
                    feature_.empty() ? "forward" : feature_, out.tagKind()));
  }
  return out.toTensor();
}

torch::Tensor FrozenBackbone::extract(const torch::Tensor& inputs, int64_t batch_size,
                                      const ExtractProgress& progress) {
  if (batch_size < 1)
    throw std::invalid_argument(fmt::format("batch size must be positive, got {}", batch_size));
  if (!inputs.defined() || inputs.dim() < 1 || inputs.size(0) == 0) {
    throw std::invalid_argument(fmt::format(
        "backbone file '{}': expected a non-empty batch of inputs (N x ...), got shape [{}]", path_,
        inputs.defined() ? fmt::format("{}", fmt::join(inputs.sizes().vec(), ", ")) : ""));
  }
  torch::NoGradGuard no_grad;
  const int64_t n = inputs.size(0);
  torch::Tensor out;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    torch::Tensor f;
    {
      // Inference tensors may not be written to outside this scope, so they are only read below.
      c10::InferenceMode inference;
      f = run_batch(inputs.narrow(0, start, len).to(device_));
      if (f.dim() == 0 || f.size(0) != len) {
        throw std::invalid_argument(fmt::format(
            "backbone file '{}': features have shape [{}] for a batch of {} inputs; expected {} "
            "rows",
            path_, fmt::join(f.sizes().vec(), ", "), len, len));
      }
      f = f.reshape({len, -1}).to(torch::kCPU);
    }
    if (!out.defined()) {
      out = torch::empty({n, f.size(1)}, f.options());
    } else if (f.size(1) != out.size(1)) {
      throw std::invalid_argument(
          fmt::format("backbone file '{}': batch at row {} gave {} features, earlier ones {}",
                      path_, start, f.size(1), out.size(1)));
    }
    out.narrow(0, start, len).copy_(f);
    ++batches_run_;
    if (progress) progress(start + len, n);
  }
  num_features_ = out.size(1);
  return out;
}

std::string FrozenBackbone::cache_key(const torch::Tensor& inputs) const {
  uint64_t h = fnv1a64(&file_hash_, sizeof(file_hash_));
  const std::string selector = kind_ + ":" + feature_;
  h = fnv1a64(selector.data(), selector.size(), h);
  const std::string dtype = c10::toString(inputs.scalar_type());
  h = fnv1a64(dtype.data(), dtype.size(), h);
  for (int64_t s : inputs.sizes()) h = fnv1a64(&s, sizeof(s), h);
  const auto data = inputs.to(torch::kCPU).contiguous();
  h = fnv1a64(data.data_ptr(), data.numel() * data.element_size(), h);
  return fmt::format("{:016x}", h);
}

torch::Tensor FrozenBackbone::extract_cached(const torch::Tensor& inputs,
                                             const std::string& cache_path, int64_t batch_size,
                                             const ExtractProgress& progress, bool* from_cache) {
  if (from_cache) *from_cache = false;
  if (cache_path.empty()) return extract(inputs, batch_size, progress);
  const std::string key = cache_key(inputs);
  if (std::ifstream(cache_path).good()) {
    // An unreadable or stale cache is simply rebuilt.
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(cache_path);
      c10::IValue format, stored_key;
      torch::Tensor features;
      if (archive.try_read("format", format) && format.isString() &&
          format.toStringRef() == kCacheFormat && archive.try_read("key", stored_key) &&
          stored_key.isString() && stored_key.toStringRef() == key &&
          archive.try_read("features", features) && features.dim() == 2 &&
          features.size(0) == inputs.size(0)) {
        if (from_cache) *from_cache = true;
        num_features_ = features.size(1);
        return features;
      }
    } catch (const std::exception&) {
    }
  }
  auto features = extract(inputs, batch_size, progress);
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kCacheFormat)));
  archive.write("key", c10::IValue(key));
  archive.write("features", features, /*is_buffer=*/true);
  io::write_atomically(cache_path, "feature cache",
                       [&](const std::string& tmp) { archive.save_to(tmp); });
  return features;
}

}  // namespace boosthead
