#pragma once
// Deterministic randomness for medgw-sample: xoshiro256** seeded through
// splitmix64, with our own range helpers (the std distributions differ
// between standard libraries, and the output must be byte-identical for a
// seed everywhere).
#include <cstdint>
#include <span>
#include <vector>

namespace medgw::sample {

[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Independent stream for (seed, stream id): every patient gets its own, so
// patients can be generated in any order or in parallel.
[[nodiscard]] constexpr std::uint64_t mix(std::uint64_t seed, std::uint64_t stream) noexcept {
  std::uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  return splitmix64(state);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    std::uint64_t state = seed;
    for (auto& word : state_) word = splitmix64(state);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound); bound > 0. Rejection sampling, no modulo bias.
  std::uint64_t below(std::uint64_t bound) noexcept {
    const std::uint64_t limit = -bound % bound;  // 2^64 mod bound
    while (true) {
      const std::uint64_t value = next();
      if (value >= limit) return value % bound;
    }
  }

  // Uniform in [low, high].
  int between(int low, int high) noexcept {
    return low + static_cast<int>(below(static_cast<std::uint64_t>(high - low) + 1));
  }

  bool chance(double probability) noexcept {
    return static_cast<double>(next() >> 11) * 0x1.0p-53 < probability;
  }

  template <class T>
  const T& pick(std::span<const T> items) noexcept {
    return items[static_cast<std::size_t>(below(items.size()))];
  }
  template <class T>
  const T& pick(const std::vector<T>& items) noexcept {
    return items[static_cast<std::size_t>(below(items.size()))];
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4]{};
};

}  // namespace medgw::sample
