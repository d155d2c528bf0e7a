#include <spool/object.hpp>

#include <base/base64.hpp>
#include <base/json.hpp>

#include <array>
#include <cstdio>
#include <ctime>

namespace medgw::spool {
namespace {

// JSON holds UTF-8 only: a name that is not UTF-8 is also given as base64 of
// its raw bytes so that the central can recreate it exactly.
void path_field(base::JsonWriter& json, std::string_view key, std::string_view path) {
  json.field(key, path);
  if (!base::is_valid_utf8(path)) json.field(std::string(key) + "_base64", base::base64_encode(base::as_bytes(path), true));
}

}  // namespace

std::string_view change_name(Change change) {
  switch (change) {
    case Change::add: return "add";
    case Change::modify: return "modify";
    case Change::rename: return "rename";
    case Change::remove: return "delete";
    case Change::withdraw: return "withdraw";
  }
  return "add";
}

std::string rfc3339_nanos(std::int64_t unix_ns) {
  std::int64_t seconds = unix_ns / 1'000'000'000;
  std::int64_t nanos = unix_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  const auto time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  std::array<char, 48> text{};
  const std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 16> fraction{};
  std::snprintf(fraction.data(), fraction.size(), ".%09lldZ", static_cast<long long>(nanos));
  return std::string(text.data(), length) + fraction.data();
}

namespace {

char change_letter(Change change) {
  switch (change) {
    case Change::add: return 'A';
    case Change::modify: return 'M';
    case Change::rename: return 'R';
    case Change::remove: return 'D';
    case Change::withdraw: return 'W';
  }
  return 'A';
}

}  // namespace

// medgw-object/2 (DESIGN.md §5): a file with content is its tar member and
// nothing more (its name, size and mtime are the member's; its bytes are
// authenticated by age and the signature, so no digest per file); the
// manifest keeps one letter per entry, in order, the content's meta in
// member order, and the few entries without content in full.
std::string manifest_json(const ObjectHeader& header, std::span<const ObjectEntry> entries) {
  base::JsonWriter json;
  json.begin_object();
  json.field("format", object_format);
  json.field("facility", header.facility);
  json.field("gateway", header.gateway);
  json.field("object_id", header.object_id);
  json.field("seq", header.seq);
  json.field("created", rfc3339_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          header.created.time_since_epoch()).count()));
  std::string changes;
  changes.reserve(entries.size());
  std::uint64_t content_bytes = 0;
  for (const ObjectEntry& entry : entries) {
    changes.push_back(change_letter(entry.change));
    if (entry.has_content()) content_bytes += entry.size;
  }
  json.field("changes", changes);
  json.field("content_bytes", content_bytes);
  json.key("meta").begin_array();
  for (const ObjectEntry& entry : entries) {
    if (entry.has_content()) json.raw(entry.meta_json.empty() ? std::string_view("{}") : std::string_view(entry.meta_json));
  }
  json.end_array();
  json.key("entries").begin_array();
  for (const ObjectEntry& entry : entries) {
    if (entry.has_content()) continue;
    json.begin_object();
    json.field("source", entry.source);
    path_field(json, "path", entry.path);
    if (entry.change != Change::withdraw) {
      json.field("size", entry.size);
      json.field("mtime", rfc3339_nanos(entry.mtime_ns));
      json.field("sha256", entry.sha256);
    }
    json.field("change", change_name(entry.change));
    if (entry.change == Change::rename) path_field(json, "from", entry.from);
    json.key("meta").raw(entry.meta_json.empty() ? std::string_view("{}") : std::string_view(entry.meta_json));
    json.end_object();
  }
  json.end_array();
  json.end_object();
  std::string out = json.take();
  out.push_back('\n');
  return out;
}

}  // namespace medgw::spool
