#include <receiver/identifiers.hpp>

#include <algorithm>
#include <charconv>

namespace medgw::receiver {
namespace {

bool is_lower_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

bool is_canonical_uuid(std::string_view text) noexcept {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !is_lower_hex(text[i])) return false;
  }
  return true;
}

bool is_upload_id(std::string_view text) noexcept {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), is_lower_hex);
}

bool is_facility_code(std::string_view text) noexcept {
  return text.size() == 9 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_source_name(std::string_view text) noexcept {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

base::Result<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text.front() == '0')) {
    return base::fail("not_a_number", "not a decimal number");
  }
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return base::fail("not_a_number", "not a decimal number");
  return value;
}

base::Result<std::uint64_t> parse_seq(std::string_view text) {
  auto value = parse_decimal(text);
  if (!value || *value == 0 || *value > max_sql_integer) {
    return base::fail("bad_seq", "seq must be a decimal number from 1 to 9223372036854775807");
  }
  return value;
}

bool is_safe_relative_path(std::string_view path) noexcept {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (true) {
    const auto end = path.find('/', start);
    const std::string_view part = path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

base::Result<std::filesystem::path> path_under(const std::filesystem::path& root, std::string_view relative) {
  if (!is_safe_relative_path(relative)) return base::fail("unsafe_path", "a path leaves its tree");
  const std::filesystem::path normal_root = root.lexically_normal();
  std::filesystem::path joined = (normal_root / std::filesystem::path(std::string(relative))).lexically_normal();
  // The lexical check repeats what is_safe_relative_path proved, so that a
  // future caller that builds `relative` differently is still held to it.
  const auto rel = joined.lexically_relative(normal_root);
  if (rel.empty() || rel.is_absolute() || *rel.begin() == ".." || *rel.begin() == ".") {
    return base::fail("unsafe_path", "a path leaves its tree");
  }
  return joined;
}

base::Result<std::string> stored_object_name(std::string_view facility, std::uint64_t seq, std::string_view object_id) {
  if (!is_facility_code(facility) || seq == 0 || seq > max_sql_integer || !is_canonical_uuid(object_id)) {
    return base::fail("bad_identifier", "an object identifier is malformed");
  }
  return std::string(facility) + "/" + std::to_string(seq) + "-" + std::string(object_id) + ".age";
}

base::Result<std::filesystem::path> partial_upload_file(const std::filesystem::path& data_dir,
                                                       std::string_view upload_id) {
  if (!is_upload_id(upload_id)) return base::fail("bad_identifier", "an upload ID is malformed");
  return path_under(data_dir / "uploads", std::string(upload_id) + ".part");
}

}  // namespace medgw::receiver
