#pragma once
// Byte views and buffers shared by every layer. SecureBytes and SecureString
// wipe their memory when freed, so a key or a passphrase does not linger in
// freed heap memory.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::base {

// Overwrites `size` bytes in a way the compiler may not optimise away.
void secure_wipe(void* data, std::size_t size) noexcept;

template <class T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() noexcept = default;
  template <class U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  friend bool operator==(const WipingAllocator&, const WipingAllocator&) noexcept { return true; }
};

using SecureBytes = std::vector<std::uint8_t, WipingAllocator<std::uint8_t>>;
using SecureString = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;

using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_chars(ByteView bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Random bytes from the kernel (getrandom), for names of temporary files and
// upload identifiers; keys are made by crypto::random_bytes.
void kernel_random(std::span<std::uint8_t> out);

}  // namespace medgw::base
