#pragma once
// Why a request to the central failed, for /metrics (uploader.hpp's
// UploadCounters count them; the tus state machine decides them).
#include <cstddef>
#include <string_view>

namespace medgw::daemon {

enum class UploadErrorClass { tls, connect, timeout, http_5xx, http_4xx, protocol, rejected, receipt_invalid };
inline constexpr std::size_t upload_error_class_count = 8;
[[nodiscard]] std::string_view upload_error_class_name(UploadErrorClass error_class);

}  // namespace medgw::daemon
