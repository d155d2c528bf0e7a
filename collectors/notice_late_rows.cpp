#include <collectors/notice_late_rows.hpp>

#include <base/bytes.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <sys/stat.h>

namespace medgw::collectors {
namespace {

std::string with_late_meta(const std::string& meta_json, const std::string& path, std::size_t patients) {
  base::JsonWriter late;
  late.begin_object().field("of", path).field("patients", static_cast<std::uint64_t>(patients)).end_object();
  const std::string extra = "\"late_rows_of\":" + late.take();
  if (meta_json.size() < 2 || meta_json.back() != '}') return "{" + extra + "}";
  std::string out = meta_json.substr(0, meta_json.size() - 1);
  if (out != "{") out.push_back(',');
  return out + extra + "}";
}

// The file's bytes when it is still the version the index recorded (a file
// changed since is sent again whole by the pass, with its own held rows).
std::optional<std::string> indexed_version(base::Database& db, const std::string& source,
                                           const std::filesystem::path& file, const std::string& path) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::string content = bytes.str();
  base::Statement indexed = db.prepare("SELECT sha256 FROM file_index WHERE source = ?1 AND path = ?2");
  indexed.bind_all(source, base::as_bytes(path));
  if (!indexed.step()) return std::nullopt;
  const std::vector<std::uint8_t> sha = indexed.column_blob(0);
  const crypto::Digest256 digest = crypto::sha256(crypto::as_bytes(std::string_view(content)));
  if (!std::equal(sha.begin(), sha.end(), digest.begin(), digest.end())) return std::nullopt;
  return content;
}

bool opted_out(const PatientPolicy& policy, std::string_view id) {
  return policy.optout->by_patient(id) != nullptr || policy.optout->by_dpc(id) != nullptr;
}

}  // namespace

LateRowsOutcome send_late_rows(spool::StateDb& state, spool::Spool& spool, const std::string& source,
                               const std::filesystem::path& root, const SourceProfile& profile,
                               const std::shared_ptr<const PatientPolicy>& policy, log::Logger& logger) {
  LateRowsOutcome outcome;
  if (!policy || !policy->notice) return outcome;
  base::Database& db = state.db();
  std::map<std::string, std::vector<std::string>> held;  // path -> patients
  {
    base::Statement rows = db.prepare("SELECT path, patient_id FROM notice_held_rows WHERE source = ?1");
    rows.bind_all(source);
    while (rows.step()) {
      const std::vector<std::uint8_t> path = rows.column_blob(0);
      held[std::string(path.begin(), path.end())].push_back(rows.column_text(1));
    }
  }
  const std::string today = policy->notice->settings().today;
  for (const auto& [path, patients] : held) {
    auto ready = std::make_shared<std::set<std::string, std::less<>>>();
    std::vector<std::string> done;  // sent now, or opted out meanwhile (never sent)
    for (const std::string& id : patients) {
      if (opted_out(*policy, id)) {
        done.push_back(id);
      } else if (policy->notice->eligible(id)) {
        ready->insert(id);
        done.push_back(id);
      }
    }
    if (ready->empty() && done.empty()) continue;
    auto forget = [&, path = path](base::Database& database) {
      base::Statement remove =
          database.prepare("DELETE FROM notice_held_rows WHERE source = ?1 AND path = ?2 AND patient_id = ?3");
      for (const std::string& id : done) {
        remove.bind_all(source, base::as_bytes(path), id).run();
        remove.reset();
      }
    };
    const std::optional<std::string> content = indexed_version(db, source, root / path, path);
    std::unique_ptr<OptOutFilter> filter =
        content && !ready->empty() ? profile.late_rows_filter(path, policy, ready) : nullptr;
    if (!filter) {
      base::WriteTransaction transaction(db);
      if (!content) {
        db.prepare("DELETE FROM notice_held_rows WHERE source = ?1 AND path = ?2").bind_all(source, base::as_bytes(path)).run();
      } else {
        forget(db);
      }
      transaction.commit();
      continue;
    }
    std::string late;
    filter->feed(*content, late);
    filter->finish(late);
    const crypto::Digest256 digest = crypto::sha256(crypto::as_bytes(std::string_view(late)));
    spool::ObjectEntry entry;
    entry.source = source;
    entry.path = path + ".late-" + today + "-" + base::to_hex(digest).substr(0, 8);
    entry.change = spool::Change::add;
    entry.data = std::string_view(late);
    entry.size = late.size();
    struct stat info {};
    if (::stat((root / path).c_str(), &info) == 0) {
      entry.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    }
    entry.sha256 = base::to_hex(digest);
    entry.meta_json = with_late_meta(profile.analyze(path, std::string_view(late)).meta_json, path, ready->size());
    const spool::BuildOutcome built = spool.build(std::span(&entry, 1), [&](base::Database& database,
                                                                             const spool::CommittedObject&) {
      forget(database);
    });
    if (!built.committed()) {
      outcome.paused = true;
      outcome.pause_reason = std::string(spool::build_status_name(built.status)) + ": " + built.message;
      return outcome;
    }
    ++outcome.files;
    ++outcome.objects;
    outcome.object_bytes += built.object->size;
    outcome.patients += ready->size();
  }
  if (outcome.files > 0) {
    logger.info("notice.late_rows", "rows held for the notice period were sent once their patients became eligible",
                {{"source", source}, {"files", outcome.files}, {"patients", outcome.patients}});
  }
  return outcome;
}

}  // namespace medgw::collectors
