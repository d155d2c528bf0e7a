#pragma once
// Base64 (RFC 4648 alphabet). age uses it unpadded and canonical: decoding
// refuses padding, characters outside the alphabet and non-zero trailing bits,
// so one value has exactly one encoding.
#include <base/bytes.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace medgw::base {

[[nodiscard]] std::string base64_encode(ByteView bytes, bool padded = false);
[[nodiscard]] std::optional<SecureBytes> base64_decode_canonical(std::string_view text);
// Standard padded base64 (tus metadata, certificate pins); still strict.
[[nodiscard]] std::optional<SecureBytes> base64_decode_padded(std::string_view text);

}  // namespace medgw::base
