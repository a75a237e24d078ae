// IDX reader: any bytes (plain, or gzip when they start with its magic) either read into a
// tensor of the declared shape or fail with std::invalid_argument. Any other exception, a crash
// or an allocation far beyond the input's size is a finding.
#include <boosthead/data/idx.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "fuzz_util.h"

using boosthead::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = boosthead::fuzz::scratch_path(".idx");
  boosthead::fuzz::write_file(path, data, size);
  try {
    const auto t = boosthead::data::read_idx(path);
    const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip) {
      const size_t header = 4 + 4 * static_cast<size_t>(t.dim());
      check(header + static_cast<size_t>(t.numel()) * t.element_size() == size,
            "tensor size does not match the file");
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
