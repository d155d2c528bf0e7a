#pragma once
// One spooled object: an age-encrypted, zstd-compressed pax tar holding
// MANIFEST.json first and then the files, as <source>/<relative path>
// (DESIGN.md §5, medgw-object/2: the files' names, sizes and mtimes are their
// tar headers', not repeated in the manifest).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace medgw::spool {

enum class Change { add, modify, rename, remove, withdraw };

class SpilledContent;  // content_spill.hpp

// Rewrites a source file's bytes on their way into an object (the opt-out
// filter removes rows or receipts of patients who refused provision). It must
// be deterministic: the collector runs one instance while it hashes the file,
// to learn the size and SHA-256 of the output, and the builder runs a fresh
// one while it streams the file and checks it gets the same output.
class ContentFilter {
 public:
  virtual ~ContentFilter() = default;
  // Appends to `out` what `bytes` (the next piece of the file) becomes.
  virtual void feed(std::string_view bytes, std::string& out) = 0;
  // Appends what is left once the file has ended.
  virtual void finish(std::string& out) = 0;
};
using ContentFilterFactory = std::function<std::unique_ptr<ContentFilter>()>;
[[nodiscard]] std::string_view change_name(Change change);

struct ObjectEntry {
  std::string source;          // configured source name, e.g. "ssmix2"
  std::string path;            // relative path inside the source, '/'-separated (raw bytes)
  Change change = Change::add;
  std::string from;            // rename: the old relative path
  std::filesystem::path file;  // add/modify: the file to read the content from, or
  std::optional<std::string_view> data;  // ...the content itself (read once by the collector)
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;          // hex; verified while the content is streamed
  // `file` streamed through a filter: size and sha256 above describe what the
  // filter makes of it, these the file itself (both are checked).
  ContentFilterFactory filter;
  std::uint64_t source_size = 0;
  std::string source_sha256;   // hex
  // ...or the content compressed already, as the collector read the file
  // (size and sha256 above describe it; checked while it was compressed).
  std::shared_ptr<const SpilledContent> spilled;
  std::string meta_json = "{}";

  [[nodiscard]] bool has_content() const noexcept { return change == Change::add || change == Change::modify; }
};

struct ObjectHeader {
  std::string object_id;  // UUIDv7
  std::uint64_t seq = 0;
  std::string facility;
  std::string gateway;
  std::chrono::system_clock::time_point created;
};

inline constexpr std::string_view object_format = "medgw-object/2";
inline constexpr std::string_view manifest_name = "MANIFEST.json";

[[nodiscard]] std::string manifest_json(const ObjectHeader& header, std::span<const ObjectEntry> entries);
// RFC 3339 UTC with nanoseconds, "2025-03-22T01:27:49.112000000Z".
[[nodiscard]] std::string rfc3339_nanos(std::int64_t unix_ns);

}  // namespace medgw::spool
