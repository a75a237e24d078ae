#include "atomic_file.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace boosthead::io {
namespace {

// A write of <path> goes through <path><kTemporary><pid>.
constexpr const char* kTemporary = ".tmp.";

}  // namespace

void write_atomically(const std::string& path, const std::string& what,
                      const std::function<void(const std::string&)>& write) {
  const std::string tmp = fmt::format("{}{}{}", path, kTemporary, ::getpid());
  try {
    write(tmp);
    // On disk before the rename, so that a crash leaves the old file or the whole new one.
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("flush failed: " + why);
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
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write {} '{}': {}", what, path, why));
  }
}

void write_bytes_atomically(const std::string& path, const std::string& what,
                            const std::string& content) {
  write_atomically(path, what, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (out) out.close();
    if (!out) throw std::runtime_error(std::strerror(errno));
  });
}

void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + kTemporary;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

}  // namespace boosthead::io
