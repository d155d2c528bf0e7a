#include <collectors/policy_audit.hpp>

#include <base/bytes.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/json.hpp>

#include <vector>

namespace medgw::collectors {
namespace {

const std::string genesis(64, '0');

std::string row_hash(std::string_view prev_hash, std::int64_t seq, std::int64_t at, std::string_view subject,
                     std::string_view file_sha256, std::string_view change) {
  crypto::Sha256 hash;
  hash.update(std::string_view("medgw-policy-audit/1\n"));
  hash.update(prev_hash);
  for (const std::string& field : {std::to_string(seq), std::to_string(at)}) {
    hash.update(std::string_view("\n"));
    hash.update(std::string_view(field));
  }
  for (std::string_view field : {subject, file_sha256, change}) {
    hash.update(std::string_view("\n"));
    hash.update(field);
  }
  return base::to_hex(hash.finish());
}

// "pt:" + 8 hex: the same tag `medgw optout check` shows for the patient.
std::string tag_of(std::string_view digest) { return "pt:" + base::to_hex(base::as_bytes(digest)).substr(0, 8); }

}  // namespace

std::string audit_entry_hash(std::initializer_list<std::string_view> fields) {
  crypto::Sha256 hash;
  for (std::string_view field : fields) {
    hash.update(field);
    hash.update(std::string_view("\x1f"));
  }
  const crypto::Digest256 digest = hash.finish();
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::optional<std::int64_t> record_policy_version(base::Database& db, std::string_view subject,
                                                  std::string_view file_sha256, const AuditedEntries& entries,
                                                  std::int64_t at_ms) {
  base::WriteTransaction transaction(db);
  {
    base::Statement last = db.prepare("SELECT file_sha256 FROM policy_audit WHERE subject = ?1 ORDER BY seq DESC LIMIT 1");
    last.bind_all(subject);
    if (last.step() && last.column_text(0) == file_sha256) return std::nullopt;
  }
  AuditedEntries before;
  {
    base::Statement rows = db.prepare("SELECT patient_key, entry_hash FROM policy_audit_entries WHERE subject = ?1");
    rows.bind_all(subject);
    while (rows.step()) {
      const auto key = rows.column_blob(0);
      const auto value = rows.column_blob(1);
      before.emplace(std::string(key.begin(), key.end()), std::string(value.begin(), value.end()));
    }
  }
  std::vector<std::string> added, removed, changed;
  for (const auto& [key, value] : entries) {
    const auto found = before.find(key);
    if (found == before.end()) {
      added.push_back(tag_of(key));
    } else if (found->second != value) {
      changed.push_back(tag_of(key));
    }
  }
  for (const auto& [key, value] : before) {
    if (!entries.contains(key)) removed.push_back(tag_of(key));
  }
  base::JsonWriter json;
  json.begin_object().field("entries", static_cast<std::uint64_t>(entries.size()));
  for (const auto& [name, list] : {std::pair<std::string_view, const std::vector<std::string>*>{"added", &added},
                                   {"removed", &removed}, {"changed", &changed}}) {
    json.key(name).begin_array();
    for (const std::string& tag : *list) json.value(tag);
    json.end_array();
  }
  json.end_object();
  const std::string change = json.take();

  std::string prev_hash = genesis;
  std::int64_t seq = 1;
  {
    base::Statement last = db.prepare("SELECT seq, hash FROM policy_audit ORDER BY seq DESC LIMIT 1");
    if (last.step()) {
      seq = last.column_int64(0) + 1;
      prev_hash = last.column_text(1);
    }
  }
  const std::string hash = row_hash(prev_hash, seq, at_ms, subject, file_sha256, change);
  db.prepare("INSERT INTO policy_audit (seq, at, subject, file_sha256, change, prev_hash, hash) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
      .bind_all(seq, at_ms, subject, file_sha256, change, prev_hash, hash)
      .run();
  db.prepare("DELETE FROM policy_audit_entries WHERE subject = ?1").bind_all(subject).run();
  base::Statement insert =
      db.prepare("INSERT INTO policy_audit_entries (subject, patient_key, entry_hash) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : entries) {
    insert.bind_all(subject, base::as_bytes(key), base::as_bytes(value)).run();
    insert.reset();
  }
  transaction.commit();
  return seq;
}

AuditVerification verify_policy_audit(base::Database& db) {
  AuditVerification out;
  std::string prev_hash = genesis;
  std::int64_t expected_seq = 1;
  base::Statement rows =
      db.prepare("SELECT seq, at, subject, file_sha256, change, prev_hash, hash FROM policy_audit ORDER BY seq");
  while (rows.step()) {
    ++out.rows;
    const std::int64_t seq = rows.column_int64(0);
    const std::string stored_prev = rows.column_text(5);
    const std::string stored_hash = rows.column_text(6);
    if (!out.first_bad_seq) {
      if (seq != expected_seq) {
        out.first_bad_seq = seq;
        out.problem = "row " + std::to_string(expected_seq) + " is missing (rows were removed)";
      } else if (stored_prev != prev_hash) {
        out.first_bad_seq = seq;
        out.problem = "row " + std::to_string(seq) + " does not link to the row before it";
      } else if (row_hash(prev_hash, seq, rows.column_int64(1), rows.column_text(2), rows.column_text(3),
                          rows.column_text(4)) != stored_hash) {
        out.first_bad_seq = seq;
        out.problem = "row " + std::to_string(seq) + " was changed after it was written (its hash does not match)";
      }
    }
    prev_hash = stored_hash;
    expected_seq = seq + 1;
    out.head = stored_hash;
  }
  return out;
}

}  // namespace medgw::collectors
