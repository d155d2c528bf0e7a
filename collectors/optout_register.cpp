#include <collectors/optout_register.hpp>

#include <base/bytes.hpp>

#include <base/json.hpp>

#include <map>
#include <set>

namespace medgw::collectors {
namespace {

constexpr std::size_t withdrawals_per_object = 5000;

std::int64_t unix_ms(const spool::Clock& clock) {
  const auto now = clock ? clock() : std::chrono::system_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
}

// Everything the central needs to find the patient in every source: the
// SS-MIX2 folder by patient ID, DPC rows by DPC number, receipts by chart
// number or by kana name and birth date (receipts without カルテ番号), and
// which of the gateway's sources hold DPC rows and receipts. Inside the
// encrypted object only; never logged.
std::string withdraw_meta(const OptOutEntry& entry, std::span<const PatientSource> sources) {
  base::JsonWriter json;
  json.begin_object().field("patient_id", entry.patient_id);
  if (!entry.dpc_id.empty()) json.field("dpc_id", entry.dpc_id);
  if (!entry.kana_name.empty() && !entry.birth_date.empty()) {
    json.field("kana_name", entry.kana_name).field("birth_date", entry.birth_date);
  }
  if (!entry.requested_on.empty()) json.field("requested_on", entry.requested_on);
  json.field("reason", "optout");
  for (const std::string_view format : {std::string_view("dpc"), std::string_view("receipt")}) {
    json.key(std::string(format) + "_sources").begin_array();
    for (const PatientSource& source : sources) {
      if (source.profile->claims_format() == format) json.value(source.source);
    }
    json.end_array();
  }
  // Sources filed by patient whose folders the central removes as named
  // here (a DICOM source's "<patient>/"; SS-MIX2's are found by rule too).
  json.key("patient_folders").begin_array();
  for (const PatientSource& source : sources) {
    const std::string folder = source.profile->patient_folder(entry.patient_id);
    if (!folder.empty()) json.begin_object().field("source", source.source).field("folder", folder).end_object();
  }
  json.end_array();
  json.end_object();
  return json.take();
}

// Removes the index rows under `prefix` in `source` (paths are raw bytes,
// compared byte-wise: the rows from prefix up to prefix with its last byte
// raised are exactly those that start with it).
std::uint64_t release_folder(base::Database& db, const std::string& source, const std::string& prefix) {
  std::string upper = prefix;
  upper.back() = static_cast<char>(upper.back() + 1);
  base::Statement remove = db.prepare("DELETE FROM file_index WHERE source = ?1 AND path >= ?2 AND path < ?3");
  remove.bind_all(source, base::as_bytes(prefix), base::as_bytes(upper));
  remove.run();
  return static_cast<std::uint64_t>(db.changes());
}

}  // namespace

RegisterUpdate update_optout_register(spool::StateDb& state, spool::Spool& spool, const PatientPolicy& policy,
                                      std::span<const PatientSource> patient_sources,
                                      const crypto::PatientTagger& tagger, log::Logger& logger,
                                      const spool::Clock& clock) {
  RegisterUpdate update;
  base::Database& db = state.db();
  std::map<std::string, const OptOutEntry*> listed;
  for (const OptOutEntry& entry : policy.optout->entries()) listed.emplace(tagger.digest(entry.patient_id), &entry);
  update.listed = listed.size();

  std::set<std::string> registered;
  {
    base::Statement rows = db.prepare("SELECT patient_key FROM optout_register");
    while (rows.step()) {
      const std::vector<std::uint8_t> key = rows.column_blob(0);
      registered.emplace(key.begin(), key.end());
    }
  }

  // Taken off the list: forget them, so their files are collected again.
  std::vector<std::string> resumed;
  for (const std::string& key : registered) {
    if (!listed.contains(key)) resumed.push_back(key);
  }
  if (!resumed.empty()) {
    base::WriteTransaction transaction(db);
    base::Statement remove = db.prepare("DELETE FROM optout_register WHERE patient_key = ?1");
    for (const std::string& key : resumed) {
      remove.bind_all(base::as_bytes(key)).run();
      remove.reset();
    }
    transaction.commit();
    update.resumed = resumed.size();
    logger.info("optout.resumed", "patients were taken off the opt-out list; their data is collected again",
                {{"patients", static_cast<std::uint64_t>(resumed.size())}});
  }

  std::vector<std::pair<std::string, const OptOutEntry*>> fresh;
  for (const auto& [key, entry] : listed) {
    if (!registered.contains(key)) fresh.emplace_back(key, entry);
  }
  update.newly_listed = fresh.size();
  if (fresh.empty()) return update;

  // Whether anything at all has been sent (or spooled): before the first
  // object there is nothing to withdraw, and no withdraw entry is made.
  bool anything_sent = false;
  {
    base::Statement next = db.prepare("SELECT next_seq FROM gateway");
    anything_sent = next.step() && next.column_int64(0) > 1;
  }
  const std::int64_t now = unix_ms(clock);
  auto register_rows = [&](base::Database& database, std::span<const std::pair<std::string, const OptOutEntry*>> part,
                           std::optional<std::int64_t> seq, std::optional<std::string> object_id) {
    base::Statement insert = database.prepare(
        "INSERT INTO optout_register (patient_key, listed_at, withdraw_seq, withdraw_object) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (patient_key) DO NOTHING");
    for (const auto& [key, entry] : part) {
      insert.bind_all(base::as_bytes(key), now, seq, object_id).run();
      insert.reset();
      if (!seq) continue;
      for (const PatientSource& source : patient_sources) {
        const std::string folder = source.profile->patient_folder(entry->patient_id);
        if (!folder.empty()) update.index_rows_released += release_folder(database, source.source, folder);
      }
    }
  };

  if (!anything_sent) {
    base::WriteTransaction transaction(db);
    register_rows(db, fresh, std::nullopt, std::nullopt);
    transaction.commit();
    return update;
  }

  for (std::size_t begin = 0; begin < fresh.size(); begin += withdrawals_per_object) {
    const std::span<const std::pair<std::string, const OptOutEntry*>> part =
        std::span(fresh).subspan(begin, std::min(withdrawals_per_object, fresh.size() - begin));
    std::vector<spool::ObjectEntry> entries;
    entries.reserve(part.size());
    for (const auto& [key, entry] : part) {
      spool::ObjectEntry withdraw;
      withdraw.source = std::string(withdraw_source);
      withdraw.path = "optout";
      withdraw.change = spool::Change::withdraw;
      withdraw.meta_json = withdraw_meta(*entry, patient_sources);
      entries.push_back(std::move(withdraw));
    }
    const spool::BuildOutcome outcome = spool.build(entries, [&](base::Database& database, const spool::CommittedObject& object) {
      register_rows(database, part, static_cast<std::int64_t>(object.seq), object.object_id);
    });
    if (!outcome.committed()) {
      update.paused = true;
      update.pause_reason = std::string(spool::build_status_name(outcome.status)) + ": " + outcome.message;
      logger.warn("optout.withdraw_paused",
                  "withdrawals for newly opted-out patients could not be spooled yet; they are retried before the "
                  "next pass, and nothing of theirs is collected meanwhile",
                  {{"patients", static_cast<std::uint64_t>(fresh.size() - begin)}, {"reason", update.pause_reason}});
      return update;
    }
    update.withdrawn += part.size();
  }
  logger.info("optout.withdrawn",
              "newly opted-out patients: a withdraw entry for each was spooled so the central deletes their data",
              {{"patients", static_cast<std::uint64_t>(update.withdrawn)},
               {"index_rows_released", update.index_rows_released}});
  return update;
}

}  // namespace medgw::collectors
