#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::base {

[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
// Lower- or upper-case hex; nullopt on odd length or a non-hex character.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

}  // namespace medgw::base
