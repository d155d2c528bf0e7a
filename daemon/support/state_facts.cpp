#include <daemon/support/state_facts.hpp>

#include <daemon/runtime/runtime.hpp>

#include <collectors/source_stats.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <base/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace medgw::daemon {
namespace {

base::Error classify(const base::SqliteError& error) {
  switch (error.code()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {"locked", std::string("state.db is locked by another process: ") + error.what()};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {"damaged", std::string("state.db is damaged: ") + error.what()};
    default:
      return {"unreadable", std::string("state.db cannot be read: ") + error.what()};
  }
}

std::string comm_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// SS-MIX2-shaped: ddd/ddd/ID/...; the ID, or empty.
std::string_view third_folder(std::string_view path) {
  if (path.size() < 9 || path[3] != '/' || path[7] != '/') return {};
  const auto end = path.find('/', 8);
  if (end == std::string_view::npos) return {};
  return path.substr(8, end - 8);
}

}  // namespace

base::Result<base::Database> open_state_for_reading(const std::filesystem::path& state_dir,
                                                    std::chrono::milliseconds busy_wait) {
  const std::filesystem::path file = state_dir / spool::StateDb::file_name;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return base::fail("missing", "state.db does not exist yet");
  try {
    base::Database db = base::Database::open(file, base::Database::Mode::read_only);
    db.exec("PRAGMA busy_timeout = " + std::to_string(busy_wait.count()));
    db.exec("PRAGMA temp_store = MEMORY");
    // The first read takes the locks and reads the header: a locked or a
    // damaged file shows here.
    (void)db.query_int64("SELECT count(*) FROM sqlite_schema");
    return db;
  } catch (const base::SqliteError& error) {
    return base::fail(classify(error));
  }
}

std::string writer_lock_holder(const std::filesystem::path& state_dir) {
  struct stat info {};
  if (::stat((state_dir / "lock").c_str(), &info) != 0) return {};
  std::ostringstream wanted;
  wanted << std::hex;
  wanted.width(2);
  wanted.fill('0');
  wanted << major(info.st_dev) << ":";
  wanted.width(2);
  wanted << minor(info.st_dev) << ":" << std::dec << info.st_ino;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream fields(line);
    std::string number, type, advisory, access, pid, where;
    fields >> number >> type >> advisory >> access >> pid >> where;
    if (type == "FLOCK" && where == wanted.str()) return "pid " + pid + " (" + comm_of(pid) + ")";
  }
  return {};
}

std::optional<std::uint64_t> spooled_bytes(base::Database& db) {
  try {
    return static_cast<std::uint64_t>(
        db.query_int64("SELECT coalesce(sum(size), 0) FROM objects WHERE state IN ('ready', 'uploading', 'rejected')")
            .value_or(0));
  } catch (const base::SqliteError&) {
    return std::nullopt;
  }
}

namespace {

void write_tables(base::JsonWriter& doc, base::Database& db) {
  std::vector<std::string> tables;
  base::Statement names = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
  while (names.step()) tables.push_back(names.column_text(0));
  doc.key("tables").begin_object();
  for (const std::string& table : tables) {
    std::string quoted = "\"";
    for (char c : table) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    quoted += "\"";
    doc.field(table, db.query_int64("SELECT count(*) FROM " + quoted).value_or(0));
  }
  doc.end_object();
}

void write_spool(base::JsonWriter& doc, base::Database& db, const Config& config,
                 std::chrono::system_clock::time_point now) {
  const spool::SpoolStats stats = spool::read_spool_stats(db, spool_dir(config), spool_limits(config), now);
  doc.key("spool").begin_object();
  doc.field("ready_objects", stats.ready_objects).field("ready_bytes", stats.ready_bytes);
  doc.field("uploading_objects", stats.uploading_objects).field("rejected_objects", stats.rejected_objects);
  doc.field("lost_objects", stats.lost_objects).field("spooled_bytes", stats.spooled_bytes);
  doc.key("oldest_ready_age_seconds");
  if (stats.oldest_ready_age) doc.value(static_cast<std::int64_t>(stats.oldest_ready_age->count() / 1000));
  else doc.null();
  doc.field("delivered_objects", stats.delivered_objects).field("delivered_bytes", stats.delivered_bytes);
  doc.key("last_delivered_age_seconds");
  if (stats.last_delivered_ms) {
    doc.value((std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() -
               *stats.last_delivered_ms) / 1000);
  } else {
    doc.null();
  }
  doc.field("free_bytes", stats.free_bytes).field("capacity", spool::capacity_name(stats.capacity));
  doc.end_object();
}

void write_collections(base::JsonWriter& doc, base::Database& db, const SourcePlan& plan,
                       std::chrono::system_clock::time_point now) {
  doc.key("collections").begin_array();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (const SourcePass& pass : plan.passes()) {
    const collectors::SourceStats stats = collectors::read_source_stats(db, pass.label);
    doc.begin_object().field("label", pass.label);
    doc.field("indexed_files", stats.indexed_files).field("indexed_bytes", stats.indexed_bytes);
    doc.field("files_with_anomalies", stats.files_with_problems());
    doc.key("anomalies").begin_object();
    for (std::size_t i = 0; i < collectors::anomaly_count; ++i) {
      if (stats.anomalies[i] > 0) {
        doc.field(collectors::anomaly_name(static_cast<collectors::Anomaly>(i)), stats.anomalies[i]);
      }
    }
    doc.end_object();
    doc.field("last_outcome", stats.last_outcome);
    doc.key("last_pass_age_seconds");
    if (stats.last_pass_ms) doc.value((now_ms - *stats.last_pass_ms) / 1000);
    else doc.null();
    doc.end_object();
  }
  doc.end_array();
}

}  // namespace

std::string state_facts_json(const Config& config, const SourcePlan* plan, std::chrono::system_clock::time_point now) {
  base::JsonWriter doc;
  doc.begin_object();
  doc.field("writer_lock", writer_lock_holder(config.state_dir));
  auto opened = open_state_for_reading(config.state_dir, std::chrono::milliseconds(1500));
  if (!opened) {
    doc.field("readable", false).field("problem", opened.error().code).field("detail", opened.error().message);
    doc.end_object();
    return doc.take();
  }
  base::Database& db = *opened;
  doc.field("readable", true);
  try {
    const spool::SchemaState schema = spool::read_schema_state(db, gateway_schema());
    doc.field("schema_version", schema.version).field("schema_known_by_this_medgw", gateway_schema().latest_version());
    if (!schema.newer.empty()) doc.field("schema_newer", schema.newer);
    write_tables(doc, db);
    const auto applied = [&](std::string_view component) {
      const auto found = schema.components.find(component);
      return found == schema.components.end() ? 0 : found->second;
    };
    if (applied("spool") >= 2) write_spool(doc, db, config, now);
    if (applied("collectors") >= 1 && plan != nullptr) write_collections(doc, db, *plan, now);
  } catch (const base::SqliteError& error) {
    const base::Error problem = classify(error);
    doc.field("problem", problem.code).field("detail", problem.message);
  }
  doc.end_object();
  return doc.take();
}

std::vector<std::string> index_patient_ids(base::Database& db, const SourcePlan* plan) {
  std::set<std::string> ids;
  base::Statement rows = db.prepare("SELECT source, path FROM file_index");
  std::string current_label;
  const SourcePass* pass = nullptr;
  while (rows.step()) {
    const std::string label = rows.column_text(0);
    if (label != current_label) {
      current_label = label;
      pass = plan != nullptr ? plan->find(label) : nullptr;
    }
    const std::vector<std::uint8_t> blob = rows.column_blob(1);
    const std::string_view path(reinterpret_cast<const char*>(blob.data()), blob.size());
    if (pass != nullptr && pass->profile) {
      const collectors::Analysis analysis = pass->profile->analyze(path, std::nullopt);
      if (!analysis.patient_id.empty()) ids.insert(analysis.patient_id);
    }
    if (const std::string_view folder = third_folder(path); !folder.empty()) ids.emplace(folder);
  }
  return {ids.begin(), ids.end()};
}

}  // namespace medgw::daemon
