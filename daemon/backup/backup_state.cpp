#include <daemon/backup/backup_state.hpp>

#include <base/time_format.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>

#include <array>
#include <chrono>
#include <cerrno>
#include <system_error>

#include <sys/stat.h>

namespace medgw::backup {
namespace {

constexpr std::array migrations{
    spool::Migration{1, "backup state", R"sql(
CREATE TABLE repository (
  singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
  id         TEXT NOT NULL,     -- the repository's config id
  location   TEXT NOT NULL,     -- backup.repository when it was bound
  bound_at   INTEGER NOT NULL   -- unix milliseconds
) STRICT;
-- Packs durable in the repository (their size and hash go into pack lists).
CREATE TABLE packs (
  name    TEXT PRIMARY KEY,
  size    INTEGER NOT NULL,
  sha256  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- Blobs durable in the repository, by keyed id.
CREATE TABLE blobs (
  id      BLOB PRIMARY KEY,
  pack    TEXT NOT NULL,
  offset  INTEGER NOT NULL,
  stored  INTEGER NOT NULL,
  size    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- Files backed up: stat at the time and their blobs (64 bytes each: id,
-- pack, offset, stored, size). Paths name patients: this file stays in
-- state_dir (0700), like the collectors' file index.
CREATE TABLE files (
  volume    TEXT NOT NULL,
  path      BLOB NOT NULL,
  size      INTEGER NOT NULL,
  mtime_ns  INTEGER NOT NULL,
  ctime_ns  INTEGER NOT NULL,
  inode     INTEGER NOT NULL,
  mode      INTEGER NOT NULL,
  blobs     BLOB NOT NULL,
  PRIMARY KEY (volume, path)
) STRICT, WITHOUT ROWID;
CREATE TABLE runs (
  id           INTEGER PRIMARY KEY,
  snapshot     TEXT,
  started_ms   INTEGER NOT NULL,
  finished_ms  INTEGER NOT NULL,
  files        INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  bytes_read   INTEGER NOT NULL,
  bytes_added  INTEGER NOT NULL,
  result       TEXT NOT NULL
) STRICT;
)sql"},
};

constexpr std::size_t ref_size = 64;

std::vector<std::uint8_t> encode_refs(const std::vector<BlobRef>& refs) {
  std::vector<std::uint8_t> out;
  out.reserve(refs.size() * ref_size);
  for (const BlobRef& ref : refs) {
    out.insert(out.end(), ref.id.begin(), ref.id.end());
    const auto pack = base::from_hex(ref.pack);
    out.insert(out.end(), pack->begin(), pack->end());
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(ref.offset >> (8 * i)));
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(ref.stored >> (8 * i)));
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(ref.size >> (8 * i)));
  }
  return out;
}

std::vector<BlobRef> decode_refs(const std::vector<std::uint8_t>& bytes) {
  std::vector<BlobRef> refs;
  for (std::size_t at = 0; at + ref_size <= bytes.size(); at += ref_size) {
    BlobRef ref;
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 32, ref.id.begin());
    ref.pack = base::to_hex(base::ByteView(bytes.data() + at + 32, 16));
    for (int i = 7; i >= 0; --i) ref.offset = (ref.offset << 8) | bytes[at + 48 + static_cast<std::size_t>(i)];
    for (int i = 3; i >= 0; --i) ref.stored = (ref.stored << 8) | bytes[at + 56 + static_cast<std::size_t>(i)];
    for (int i = 3; i >= 0; --i) ref.size = (ref.size << 8) | bytes[at + 60 + static_cast<std::size_t>(i)];
    refs.push_back(std::move(ref));
  }
  return refs;
}

}  // namespace

const spool::Schema& backup_schema() {
  static const spool::Schema schema{{"backup", migrations}};
  return schema;
}

BackupState::BackupState(std::filesystem::path folder, spool::WriterLock lock, base::Database db)
    : folder_(std::move(folder)), lock_(std::move(lock)), db_(std::move(db)) {}

BackupState BackupState::open(const std::filesystem::path& state_dir, const log::Logger& logger) {
  const std::filesystem::path folder = state_dir / folder_name;
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "cannot create " + state_dir.string());
  }
  if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "cannot create " + folder.string());
  }
  std::optional<spool::WriterLock> lock;
  try {
    lock.emplace(folder);
  } catch (const spool::StateDbError&) {
    throw BackupBusy("another backup is running on this gateway (medgw backup run, or the service's scheduled "
                     "backup); wait for it to finish");
  }
  base::Database db = base::Database::open(folder / "backup.db", base::Database::Mode::read_write_create);
  spool::configure_connection(db, true);
  spool::apply_schema(db, backup_schema(), logger);
  return BackupState(folder, std::move(*lock), std::move(db));
}

std::optional<std::string> BackupState::bound_repository() {
  return db_.query_text("SELECT id FROM repository WHERE singleton = 1");
}

void BackupState::bind_repository(std::string_view id, std::string_view location) {
  base::WriteTransaction transaction(db_);
  db_.exec("DELETE FROM blobs; DELETE FROM packs; DELETE FROM files;");
  db_.prepare("INSERT OR REPLACE INTO repository (singleton, id, location, bound_at) VALUES (1, ?1, ?2, ?3)")
      .bind_all(id, location, base::unix_ms_now())
      .run();
  transaction.commit();
}

std::optional<std::vector<std::uint8_t>> BackupState::load_secret(std::string_view repository_id) const {
  const std::filesystem::path file = folder_ / (std::string(repository_id) + ".key");
  if (!std::filesystem::exists(file)) return std::nullopt;
  const base::SecureBytes content = base::read_private_file(file);
  auto secret = parse_secret_text(base::as_chars(content), repository_id);
  if (!secret) throw std::runtime_error(file.string() + " is not a medgw backup secret");
  return secret;
}

void BackupState::save_secret(std::string_view repository_id, base::ByteView secret) const {
  const std::string text = secret_text(repository_id, secret);
  base::create_private_file(folder_ / (std::string(repository_id) + ".key"), base::as_bytes(text));
}

std::optional<KnownFile> BackupState::find_file(std::string_view volume, std::string_view path) {
  if (!find_file_) {
    find_file_.emplace(db_.prepare(
        "SELECT size, mtime_ns, ctime_ns, inode, mode, blobs FROM files WHERE volume = ?1 AND path = ?2"));
  }
  base::Statement& query = *find_file_;
  query.reset();
  query.bind(1, volume).bind(2, base::as_bytes(path));
  if (!query.step()) return std::nullopt;
  KnownFile file{static_cast<std::uint64_t>(query.column_int64(0)), query.column_int64(1), query.column_int64(2),
                 static_cast<std::uint64_t>(query.column_int64(3)), static_cast<std::uint32_t>(query.column_int64(4)),
                 decode_refs(query.column_blob(5))};
  query.reset();
  return file;
}

std::optional<BlobRef> BackupState::find_blob(const BlobId& id) {
  if (!find_blob_) find_blob_.emplace(db_.prepare("SELECT pack, offset, stored, size FROM blobs WHERE id = ?1"));
  base::Statement& query = *find_blob_;
  query.reset();
  query.bind(1, base::ByteView(id));
  if (!query.step()) return std::nullopt;
  BlobRef ref{id, query.column_text(0), static_cast<std::uint64_t>(query.column_int64(1)),
              static_cast<std::uint32_t>(query.column_int64(2)), static_cast<std::uint32_t>(query.column_int64(3))};
  query.reset();
  return ref;
}

std::optional<PackListEntry> BackupState::find_pack(std::string_view name) {
  base::Statement query = db_.prepare("SELECT size, sha256 FROM packs WHERE name = ?1");
  query.bind(1, name);
  if (!query.step()) return std::nullopt;
  return PackListEntry{std::string(name), static_cast<std::uint64_t>(query.column_int64(0)), query.column_text(1)};
}

void BackupState::put_file(std::string_view volume, std::string_view path, const KnownFile& file) {
  if (!put_file_) {
    put_file_.emplace(db_.prepare(
        "INSERT OR REPLACE INTO files (volume, path, size, mtime_ns, ctime_ns, inode, mode, blobs) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  }
  base::Statement& statement = *put_file_;
  statement.reset();
  const std::vector<std::uint8_t> refs = encode_refs(file.blobs);
  statement.bind(1, volume).bind(2, base::as_bytes(path)).bind(3, file.size).bind(4, file.mtime_ns);
  statement.bind(5, file.ctime_ns).bind(6, file.inode).bind(7, static_cast<std::int64_t>(file.mode));
  statement.bind(8, base::ByteView(refs)).run();
}

void BackupState::put_blob(const BlobRef& ref) {
  if (!put_blob_) {
    put_blob_.emplace(db_.prepare(
        "INSERT OR IGNORE INTO blobs (id, pack, offset, stored, size) VALUES (?1, ?2, ?3, ?4, ?5)"));
  }
  base::Statement& statement = *put_blob_;
  statement.reset();
  statement.bind(1, base::ByteView(ref.id)).bind(2, ref.pack).bind(3, ref.offset);
  statement.bind(4, static_cast<std::int64_t>(ref.stored)).bind(5, static_cast<std::int64_t>(ref.size)).run();
}

void BackupState::put_pack(const PackListEntry& pack) {
  db_.prepare("INSERT OR IGNORE INTO packs (name, size, sha256) VALUES (?1, ?2, ?3)")
      .bind_all(pack.name, pack.size, pack.sha256)
      .run();
}

std::size_t BackupState::forget_missing_packs(const std::function<bool(const std::string&, std::uint64_t)>& present) {
  std::vector<std::string> gone;
  base::Statement packs = db_.prepare("SELECT name, size FROM packs");
  while (packs.step()) {
    std::string name = packs.column_text(0);
    if (!present(name, static_cast<std::uint64_t>(packs.column_int64(1)))) gone.push_back(std::move(name));
  }
  if (gone.empty()) return 0;
  base::WriteTransaction transaction(db_);
  for (const std::string& name : gone) {
    // A file row holds its blobs' pack names as 16 raw bytes (random: a match elsewhere would only cost a re-read).
    const auto raw = base::from_hex(name);
    db_.prepare("DELETE FROM files WHERE instr(blobs, ?1) > 0").bind(1, base::ByteView(*raw)).run();
    db_.prepare("DELETE FROM blobs WHERE pack = ?1").bind_all(name).run();
    db_.prepare("DELETE FROM packs WHERE name = ?1").bind_all(name).run();
  }
  transaction.commit();
  return gone.size();
}

void BackupState::record_run(const RunRecord& run) {
  base::WriteTransaction transaction(db_);
  db_.prepare("INSERT INTO runs (snapshot, started_ms, finished_ms, files, bytes, bytes_read, bytes_added, result) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
      .bind_all(run.snapshot, run.started_ms, run.finished_ms, run.files, run.bytes, run.bytes_read, run.bytes_added,
                run.result)
      .run();
  db_.exec("DELETE FROM runs WHERE id <= (SELECT max(id) - 1000 FROM runs)");
  transaction.commit();
}

std::optional<RunRecord> BackupState::last_run(bool successful_only) {
  base::Statement query = db_.prepare(
      std::string("SELECT snapshot, started_ms, finished_ms, files, bytes, bytes_read, bytes_added, result FROM runs ") +
      (successful_only ? "WHERE result = 'ok' " : "") + "ORDER BY id DESC LIMIT 1");
  if (!query.step()) return std::nullopt;
  return RunRecord{query.column_text(0),
                   query.column_int64(1),
                   query.column_int64(2),
                   static_cast<std::uint64_t>(query.column_int64(3)),
                   static_cast<std::uint64_t>(query.column_int64(4)),
                   static_cast<std::uint64_t>(query.column_int64(5)),
                   static_cast<std::uint64_t>(query.column_int64(6)),
                   query.column_text(7)};
}

}  // namespace medgw::backup
