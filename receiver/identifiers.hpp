#pragma once
// The identifiers a client hands the receiver, validated where they enter
// (DESIGN.md §6): nothing a client sent is used in a path, an SQL value or a
// log line before it passed one of these. Every path the receiver builds
// from them is made by store_path()/path_under(), which also check that the
// result stays under its root.
#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace medgw::receiver {

// SQLite INTEGER is signed 64-bit: the largest seq and byte count it holds.
inline constexpr std::uint64_t max_sql_integer = 0x7FFF'FFFF'FFFF'FFFFULL;

// 8-4-4-4-12 lower-case hex digits (RFC 9562 text form, as medgw writes it).
[[nodiscard]] bool is_canonical_uuid(std::string_view text) noexcept;

// A tus upload ID as this receiver makes them: 32 lower-case hex digits.
[[nodiscard]] bool is_upload_id(std::string_view text) noexcept;

// The 9-digit facility code.
[[nodiscard]] bool is_facility_code(std::string_view text) noexcept;

// A manifest's source name (a-z, 0-9, '-', '_'; at most 64), a folder of its own.
[[nodiscard]] bool is_source_name(std::string_view text) noexcept;

// A decimal without sign or leading zeros.
[[nodiscard]] base::Result<std::uint64_t> parse_decimal(std::string_view text);

// seq: 1 .. 2^63-1, decimal without leading zeros (the gateway signs
// std::to_string(seq), so any other spelling could not verify anyway).
[[nodiscard]] base::Result<std::uint64_t> parse_seq(std::string_view text);

// A relative path that stays inside its tree: not empty, no leading '/', no
// "." or ".." component, no empty component, no NUL. Any other byte is
// allowed (file names are bytes, not UTF-8).
[[nodiscard]] bool is_safe_relative_path(std::string_view path) noexcept;

// root / relative, refused unless `relative` is safe and the lexically
// normal result lies strictly under the lexically normal root.
[[nodiscard]] base::Result<std::filesystem::path> path_under(const std::filesystem::path& root,
                                                             std::string_view relative);

// "<facility>/<seq>-<object_id>.age", from validated parts only.
[[nodiscard]] base::Result<std::string> stored_object_name(std::string_view facility, std::uint64_t seq,
                                                           std::string_view object_id);

// <data_dir>/uploads/<id>.part for a valid upload ID.
[[nodiscard]] base::Result<std::filesystem::path> partial_upload_file(const std::filesystem::path& data_dir,
                                                                      std::string_view upload_id);

}  // namespace medgw::receiver
