#pragma once
// Helpers shared by the libFuzzer targets.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace boosthead::fuzz {

// Aborts (a crash libFuzzer reports, with the input) when an invariant does not hold.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// A scratch file for readers that take a path: one per process (libFuzzer -jobs runs several),
// rewritten for every input and removed at exit.
inline const std::string& scratch_path(const char* suffix) {
  static const std::string path = [suffix] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir && *dir ? dir : "/tmp") + "/boosthead_fuzz_" +
                    std::to_string(::getpid()) + suffix;
    static std::string to_remove;
    to_remove = p;
    std::atexit([] { std::remove(to_remove.c_str()); });
    return p;
  }();
  return path;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "cannot open the scratch file");
  check(size == 0 || std::fwrite(data, 1, size, f) == size, "cannot write the scratch file");
  check(std::fclose(f) == 0, "cannot close the scratch file");
}

}  // namespace boosthead::fuzz
