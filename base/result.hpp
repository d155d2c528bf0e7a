#pragma once
// The one shape of an expected failure (STYLE.md "Errors"): a function that
// can fail for reasons the caller must handle - the network is down, the
// disk is full, the peer refused, the input is malformed - returns
// Result<T>; broken invariants and start-up failures still throw.
//
//   Result<Offset> parse_offset(std::string_view text) {
//     if (text.empty()) return fail("bad_offset", "Upload-Offset is missing");
//     return Offset{...};
//   }
//   if (auto offset = parse_offset(header); !offset) log(offset.error().message);
//
// A std::expected look-alike (C++23's is not in GCC 12's C++20 mode).
#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace medgw::base {

// What went wrong: `code` is stable (tests and metrics match on it),
// `message` is for people and names what to do. Neither carries patient data.
struct Error {
  std::string code;
  std::string message;
};

template <class E = Error>
struct Failure {
  E error;
};

// fail("disk_full", "...") converts to any Result<T>.
inline Failure<Error> fail(std::string code, std::string message) {
  return {Error{std::move(code), std::move(message)}};
}
template <class E>
Failure<E> fail(E error) {
  return {std::move(error)};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <class F>
    requires std::is_constructible_v<E, F>
  Result(Failure<F> failure) : state_(std::in_place_index<1>, std::move(failure.error)) {}  // NOLINT

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  [[nodiscard]] T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  [[nodiscard]] const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  [[nodiscard]] T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  [[nodiscard]] T value_or(T fallback) const& { return ok() ? std::get<0>(state_) : std::move(fallback); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const E& error() const& {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, E> state_;
};

// A failure or nothing.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class F>
    requires std::is_constructible_v<E, F>
  Result(Failure<F> failure) : error_(std::move(failure.error)), ok_(false) {}  // NOLINT

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] const E& error() const& {
    assert(!ok_);
    return error_;
  }

 private:
  E error_{};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace medgw::base
