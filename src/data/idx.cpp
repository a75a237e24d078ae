#include <boosthead/data/idx.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "../util/dtype.h"

namespace boosthead::data {

namespace {

// A corrupt header could claim petabytes; refuse before allocating.
constexpr uint64_t kMaxPayloadBytes = uint64_t{4} << 30;
constexpr int kMaxDims = 16;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

struct TypeInfo {
  torch::ScalarType dtype;
  size_t size;
};

bool type_info(uint8_t code, TypeInfo& info) {
  switch (code) {
    case 0x08:
      info = {torch::kUInt8, 1};
      return true;
    case 0x09:
      info = {torch::kInt8, 1};
      return true;
    case 0x0B:
      info = {torch::kInt16, 2};
      return true;
    case 0x0C:
      info = {torch::kInt32, 4};
      return true;
    case 0x0D:
      info = {torch::kFloat32, 4};
      return true;
    case 0x0E:
      info = {torch::kFloat64, 8};
      return true;
    default:
      return false;
  }
}

bool host_is_little_endian() {
  const uint16_t probe = 1;
  uint8_t first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (!file_) throw std::invalid_argument(fmt::format("cannot open IDX file '{}'", path));
    gzbuffer(file_.get(), 1u << 17);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec) file_size_ = static_cast<uint64_t>(size);
  }

  // An upper bound on the bytes left after `consumed` were read: the rest of a plain file, or
  // what its gzip data could inflate to (deflate expands at most 1032:1); nullopt when the
  // file's size is unknown (a pipe).
  std::optional<uint64_t> max_remaining(uint64_t consumed) {
    if (!file_size_) return std::nullopt;
    if (gzdirect(file_.get())) return *file_size_ > consumed ? *file_size_ - consumed : 0;
    return *file_size_ * 1032;
  }

  bool compressed() { return gzdirect(file_.get()) == 0; }

  // Reads up to `size` bytes; returns how many arrived (fewer only at the end of the data).
  uint64_t read(void* dst, uint64_t size) {
    auto* out = static_cast<char*>(dst);
    uint64_t done = 0;
    while (done < size) {
      const auto chunk = static_cast<unsigned>(std::min<uint64_t>(size - done, 1u << 30));
      const int got = gzread(file_.get(), out + done, chunk);
      if (got < 0) {
        throw std::invalid_argument(fmt::format("{}: read error: {}", path_, error_text()));
      }
      if (got == 0) break;
      done += static_cast<uint64_t>(got);
    }
    // zlib reports a cut-off gzip stream as an error after returning what it could decode.
    int code = Z_OK;
    gzerror(file_.get(), &code);
    if (code != Z_OK && code != Z_STREAM_END) {
      throw std::invalid_argument(
          fmt::format("{}: corrupt or truncated gzip data: {}", path_, error_text()));
    }
    return done;
  }

  uint64_t count_remaining() {
    std::vector<char> buf(1 << 16);
    uint64_t total = 0;
    while (true) {
      const uint64_t got = read(buf.data(), buf.size());
      total += got;
      if (got < buf.size()) return total;
    }
  }

 private:
  // zlib prefixes its messages with the path, which our messages already lead with.
  std::string error_text() {
    int code = 0;
    const char* msg = gzerror(file_.get(), &code);
    std::string text = msg ? msg : "unknown error";
    const std::string prefix = path_ + ": ";
    if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
    return text;
  }

  std::string path_;
  GzHandle file_;
  std::optional<uint64_t> file_size_;
};

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += " x ";
    out += std::to_string(dims[i]);
  }
  return out.empty() ? "scalar" : out;
}

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  Reader reader(path);

  uint8_t magic[4] = {0, 0, 0, 0};
  const uint64_t got_magic = reader.read(magic, 4);
  if (got_magic == 0) throw std::invalid_argument(fmt::format("{}: empty file", path));
  if (got_magic < 4) throw std::invalid_argument(fmt::format("{}: truncated IDX header", path));
  if (magic[0] != 0 || magic[1] != 0) {
    throw std::invalid_argument(
        fmt::format("{}: bad IDX magic number 0x{:02X}{:02X}{:02X}{:02X} (expected two zero bytes, "
                    "a type code and "
                    "a dimension count)",
                    path, magic[0], magic[1], magic[2], magic[3]));
  }
  TypeInfo info{};
  if (!type_info(magic[2], info)) {
    throw std::invalid_argument(fmt::format(
        "{}: unsupported IDX type code 0x{:02X} (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)",
        path, magic[2]));
  }
  const int ndims = magic[3];
  if (ndims == 0 || ndims > kMaxDims) {
    throw std::invalid_argument(fmt::format(
        "{}: unsupported IDX dimension count {} (expected 1 to {})", path, ndims, kMaxDims));
  }

  std::vector<uint8_t> raw_dims(static_cast<size_t>(ndims) * 4);
  if (reader.read(raw_dims.data(), raw_dims.size()) < raw_dims.size()) {
    throw std::invalid_argument(
        fmt::format("{}: truncated IDX header ({} dimensions declared)", path, ndims));
  }
  std::vector<int64_t> dims(static_cast<size_t>(ndims));
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* p = &raw_dims[static_cast<size_t>(i) * 4];
    dims[static_cast<size_t>(i)] =
        (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  }
  // The check skips zero dimensions, so that an empty array whose other dimensions multiply past
  // int64 is refused here rather than in torch::empty. Each dim is < 2^32 and count stays <= the
  // cap before each step, so nothing overflows 64 bits.
  uint64_t count = 1;
  bool too_big = false;
  for (size_t i = 0; i < dims.size() && !too_big; ++i) {
    if (dims[i] == 0) continue;
    count *= static_cast<uint64_t>(dims[i]);
    too_big = count * info.size > kMaxPayloadBytes;
  }
  if (too_big) {
    throw std::invalid_argument(
        fmt::format("{}: IDX header declares {} {} values, over the {} GiB limit", path,
                    shape_text(dims), util::dtype_name(info.dtype), kMaxPayloadBytes >> 30));
  }
  if (std::count(dims.begin(), dims.end(), 0) > 0) count = 0;

  const uint64_t payload = count * info.size;
  // A corrupt header must not make us allocate more than the file can hold.
  const uint64_t header = 4 + raw_dims.size();
  if (const auto room = reader.max_remaining(header); room && payload > *room) {
    const std::string declared =
        fmt::format("the header declares {} {} values ({} bytes)", shape_text(dims),
                    util::dtype_name(info.dtype), payload);
    throw std::invalid_argument(
        reader.compressed()
            ? fmt::format("{}: truncated IDX data: {}, more than its gzip data can hold", path,
                          declared)
            : fmt::format("{}: truncated IDX data: {} but only {} bytes follow", path, declared,
                          *room));
  }
  auto out = torch::empty(dims, torch::TensorOptions().dtype(info.dtype));
  const uint64_t got = reader.read(out.data_ptr(), payload);
  if (got < payload) {
    throw std::invalid_argument(
        fmt::format("{}: truncated IDX data: the header declares {} {} values ({} bytes) "
                    "but only {} bytes follow",
                    path, shape_text(dims), util::dtype_name(info.dtype), payload, got));
  }
  const uint64_t extra = reader.count_remaining();
  if (extra > 0) {
    throw std::invalid_argument(
        fmt::format("{}: {} trailing bytes after the {}-byte IDX payload ({} {})", path, extra,
                    payload, shape_text(dims), util::dtype_name(info.dtype)));
  }

  if (info.size > 1 && host_is_little_endian()) {
    auto* bytes = static_cast<uint8_t*>(out.data_ptr());
    for (uint64_t i = 0; i < count; ++i)
      std::reverse(bytes + i * info.size, bytes + (i + 1) * info.size);
  }
  return out;
}

torch::Tensor read_idx_images(const std::string& path) {
  auto raw = read_idx(path);
  if (raw.dim() != 3 || raw.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument(
        fmt::format("{}: expected IDX images as a 3-D uint8 array (N x H x W), got {} {}", path,
                    shape_text(raw.sizes().vec()), util::dtype_name(raw.scalar_type())));
  }
  return raw.to(torch::kFloat32).div_(255.0f).unsqueeze(1).contiguous();
}

torch::Tensor read_idx_labels(const std::string& path) {
  auto raw = read_idx(path);
  if (raw.dim() != 1 || raw.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument(
        fmt::format("{}: expected IDX labels as a 1-D uint8 array (N), got {} {}", path,
                    shape_text(raw.sizes().vec()), util::dtype_name(raw.scalar_type())));
  }
  return raw.to(torch::kInt64);
}

}  // namespace boosthead::data
