#pragma once
// Internal: std::vector on cache-line boundaries, for the CPU kernels' 64-byte vector loads.

#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace boosthead::detail::cpu {

// Vector loads of 64 bytes split across two cache lines unless the data starts on a line.
template <typename U>
struct LineAligned {
  using value_type = U;
  LineAligned() = default;
  template <typename V>
  LineAligned(const LineAligned<V>&) {}
  U* allocate(size_t n) {
    return static_cast<U*>(::operator new (n * sizeof(U), std::align_val_t{64}));
  }
  void deallocate(U* p, size_t) { ::operator delete (p, std::align_val_t{64}); }
  // Sized construction leaves plain values uninitialised (the layouts below write every entry);
  // construction from a value copies it.
  template <typename V>
  void construct(V* p) noexcept(std::is_nothrow_default_constructible_v<V>) {
    ::new (static_cast<void*>(p)) V;
  }
  template <typename V, typename... Args>
  void construct(V* p, Args&&... args) {
    ::new (static_cast<void*>(p)) V(std::forward<Args>(args)...);
  }
  template <typename V>
  bool operator==(const LineAligned<V>&) const {
    return true;
  }
  template <typename V>
  bool operator!=(const LineAligned<V>&) const {
    return false;
  }
};
template <typename U>
using AlignedVector = std::vector<U, LineAligned<U>>;

}  // namespace boosthead::detail::cpu
