// check_torchscript_archive (declared in boosthead/model_file.h): a zip file read and checked
// record by record before LibTorch's reader, which trusts the lengths written in the file and
// does not verify CRCs (a corrupted string length once made it allocate 4 GiB).

#include <boosthead/model_file.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace boosthead {
namespace {

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
          if (f + 8 > x + 4 + len)
            fail(fmt::format("record '{}' has a damaged zip64 field", r.name));
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
    const uint64_t name_len = le(bytes, r.offset + 26, 2), extra_len = le(bytes, r.offset + 28, 2);
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

}  // namespace boosthead
