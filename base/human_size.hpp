#pragma once
// Byte counts for people: "512 B", "1.5 KiB", "3.2 GiB".
#include <cstdint>
#include <string>

namespace medgw::base {

[[nodiscard]] std::string human_size(std::uint64_t bytes);

}  // namespace medgw::base
