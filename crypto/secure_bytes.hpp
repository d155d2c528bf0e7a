#pragma once
// crypto/ works in the ground layer's byte types (base/bytes.hpp); this adds
// the constant-time comparison that MACs and tags need.
#include <base/bytes.hpp>

namespace medgw::crypto {

using base::as_bytes;
using base::as_chars;
using base::ByteView;
using base::secure_wipe;
using base::SecureBytes;
using base::SecureString;

// Constant-time comparison for MACs and tags.
[[nodiscard]] bool equal_constant_time(ByteView a, ByteView b) noexcept;

}  // namespace medgw::crypto
