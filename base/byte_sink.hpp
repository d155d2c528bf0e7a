#pragma once
// Where streaming encryption and decryption put their output.
#include <base/bytes.hpp>

#include <string>
#include <vector>

namespace medgw::base {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Takes all of `bytes` or throws.
  virtual void write(ByteView bytes) = 0;
};

// Collects everything in memory (tests, small headers).
class MemorySink final : public ByteSink {
 public:
  void write(ByteView bytes) override { data.insert(data.end(), bytes.begin(), bytes.end()); }
  std::vector<std::uint8_t> data;
};

}  // namespace medgw::base
