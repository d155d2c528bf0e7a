#pragma once
// The receiver's durable state (receiver.db, SQLite): open tus uploads with
// their offsets, and the objects received (object_id unique: a duplicate is
// acknowledged and dropped), with their signed receipts and landing state.
// Every method takes the one lock; the database is reached only through it.
#include <base/sqlite.hpp>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace medgw::receiver {

struct Upload {
  std::string id;
  std::string facility;
  std::uint64_t length = 0;
  std::uint64_t offset = 0;
  std::string metadata;  // the Upload-Metadata header as sent
  std::int64_t expires_ms = 0;
};

struct StoredObject {
  std::string object_id;
  std::string facility;
  std::uint64_t seq = 0;
  std::string sha256;
  std::string file;  // relative to the store
  std::string receipt_json;
  bool landed = false;
};

struct FacilityReport {
  std::string facility;
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
  std::uint64_t highest_seq = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;  // missing seq ranges [from, to]
  std::uint64_t landed_through = 0;  // every seq up to this one is landed
  std::uint64_t open_uploads = 0;
};

class Store {
 public:
  explicit Store(const std::filesystem::path& db_file);

  void add_upload(const Upload& upload);
  [[nodiscard]] std::optional<Upload> upload(std::string_view id);
  void set_offset(std::string_view id, std::uint64_t offset);
  void remove_upload(std::string_view id);
  [[nodiscard]] std::vector<std::string> expired_uploads(std::int64_t now_ms);

  [[nodiscard]] std::optional<StoredObject> object(std::string_view object_id);
  // False when an object with that ID was recorded already (a duplicate).
  [[nodiscard]] bool add_object(const StoredObject& object, std::uint64_t size, std::int64_t received_ms);
  // The next object of the facility to land (seq = landed_through + 1), if stored.
  [[nodiscard]] std::optional<StoredObject> next_to_land(std::string_view facility);
  void mark_landed(std::string_view facility, std::uint64_t seq);

  [[nodiscard]] std::vector<FacilityReport> report();

 private:
  std::mutex mutex_;
  base::Database db_;
};

}  // namespace medgw::receiver
