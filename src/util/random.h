#pragma once
// Internal: draws from a raw 64-bit engine, so that a seed gives the same shuffle and the same
// weights with any standard library (std::shuffle and the distributions differ between them).

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace boosthead::detail {

// Fisher-Yates.
inline void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace boosthead::detail
