#pragma once
// FHIR `instant` values (meta.lastUpdated, a Bulk Data transactionTime) as
// microseconds since the Unix epoch, so that servers writing different time
// zones or precisions compare correctly.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::fhir {

// "2026-12-02T10:00:00Z", "...:00.123+09:00" (fractions beyond microseconds
// are cut); nullopt when it is not an instant with a time zone.
[[nodiscard]] std::optional<std::int64_t> parse_instant(std::string_view text);
// "2026-12-02T01:00:00.123456Z" (UTC, always six fraction digits).
[[nodiscard]] std::string format_instant(std::int64_t micros);

// "20261202T010000-123456Z": the same, for a file or folder name.
[[nodiscard]] std::string compact_instant(std::int64_t micros);

}  // namespace medgw::fhir
