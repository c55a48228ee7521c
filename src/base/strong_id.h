// StrongId<Tag, T>: a number with a type of its own, so that a Position cannot be passed where a
// Revision is expected (a compile error). Thread-safety: plain value.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace strata {

template <class Tag, class T = uint64_t>
class StrongId {
 public:
  using value_type = T;
  constexpr StrongId() = default;
  constexpr explicit StrongId(T v) : v_(v) {}
  constexpr T value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  constexpr StrongId Next(T by = 1) const { return StrongId(v_ + by); }

 private:
  T v_{};
};

}  // namespace strata

template <class Tag, class T>
struct std::hash<strata::StrongId<Tag, T>> {
  size_t operator()(const strata::StrongId<Tag, T>& id) const { return std::hash<T>{}(id.value()); }
};
