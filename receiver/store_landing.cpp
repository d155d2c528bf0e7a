// Store: landing state per object and the cursor per facility; the status
// report.
#include <receiver/store.hpp>

namespace medgw::receiver {
namespace {

std::uint64_t cursor_of(base::Database& db, std::string_view facility) {
  base::Statement query = db.prepare("SELECT landed_through FROM landing WHERE facility = ?1");
  query.bind_all(facility);
  return query.step() ? static_cast<std::uint64_t>(query.column_int64(0)) : 0;
}

void set_cursor(base::Database& db, std::string_view facility, std::uint64_t through) {
  db.prepare("INSERT INTO landing (facility, landed_through) VALUES (?1, ?2) "
             "ON CONFLICT (facility) DO UPDATE SET landed_through = excluded.landed_through")
      .bind_all(facility, through)
      .run();
}

}  // namespace

std::optional<StoredObject> Store::next_to_land(std::string_view facility) {
  std::lock_guard lock(mutex_);
  while (true) {
    const std::uint64_t through = cursor_of(db_, facility);
    base::Statement query = db_.prepare(
        "SELECT object_id, sha256, file, receipt, landing_state FROM objects "
        "WHERE facility = ?1 AND seq = ?2 AND state = 'stored' "
        "ORDER BY landing_state = 'pending' DESC, received_ms LIMIT 1");
    query.bind_all(facility, through + 1);
    if (!query.step()) return std::nullopt;
    if (query.column_text(4) == "pending") {
      StoredObject object;
      object.object_id = query.column_text(0);
      object.facility = std::string(facility);
      object.seq = through + 1;
      object.sha256 = query.column_text(1);
      object.file = query.column_text(2);
      object.receipt_json = query.column_text(3);
      return object;
    }
    // Skipped by the operator (or resolved before a cursor rewind): step over.
    base::WriteTransaction transaction(db_);
    if (cursor_of(db_, facility) == through) set_cursor(db_, facility, through + 1);
    transaction.commit();
  }
}

bool Store::record_landing(const StoredObject& object, LandingState state, std::string_view reason, std::int64_t now_ms,
                           std::string_view erasure_receipt) {
  std::lock_guard lock(mutex_);
  const std::string_view facility = object.facility;
  base::WriteTransaction transaction(db_);
  if (cursor_of(db_, facility) + 1 != object.seq) return false;  // rewound by `landing retry` meanwhile: land again
  db_.prepare("UPDATE objects SET landing_state = ?2, landing_reason = ?3, landing_changed_ms = ?4 "
              "WHERE object_id = ?1 AND landing_state = 'pending'")
      .bind_all(object.object_id, landing_state_name(state), reason.empty() ? std::nullopt : std::optional(reason), now_ms)
      .run();
  base::Statement pending = db_.prepare(
      "SELECT 1 FROM objects WHERE facility = ?1 AND seq = ?2 AND state = 'stored' AND landing_state = 'pending'");
  pending.bind_all(facility, object.seq);
  if (!pending.step()) set_cursor(db_, facility, object.seq);
  db_.prepare("UPDATE landing SET paused_reason = NULL, paused_since_ms = NULL WHERE facility = ?1").bind_all(facility).run();
  if (state == LandingState::landed && !erasure_receipt.empty()) {
    db_.prepare("INSERT INTO erasures (object_id, facility, seq, erased_ms, receipt) VALUES (?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT (object_id) DO NOTHING")
        .bind_all(object.object_id, facility, object.seq, now_ms, erasure_receipt)
        .run();
  }
  transaction.commit();
  return true;
}

std::optional<std::string> Store::erasure_receipt(std::string_view object_id) {
  std::lock_guard lock(mutex_);
  base::Statement query = db_.prepare("SELECT receipt FROM erasures WHERE object_id = ?1");
  query.bind_all(object_id);
  if (!query.step()) return std::nullopt;
  return query.column_text(0);
}

void Store::set_landing_paused(std::string_view facility, std::string_view reason, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  set_cursor(db_, facility, cursor_of(db_, facility));
  db_.prepare("UPDATE landing SET paused_reason = ?2, paused_since_ms = coalesce(paused_since_ms, ?3) WHERE facility = ?1")
      .bind_all(facility, reason, now_ms)
      .run();
  transaction.commit();
}

base::Result<std::uint64_t> Store::retry_landing(std::string_view facility, std::uint64_t seq, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  base::Statement query = db_.prepare(
      "SELECT landing_state FROM objects WHERE facility = ?1 AND seq = ?2 AND state = 'stored'");
  query.bind_all(facility, seq);
  if (!query.step()) return base::fail("not_found", "the central holds no object with that seq for that facility");
  const std::string state = query.column_text(0);
  if (state != "quarantined" && state != "skipped") {
    return base::fail("not_quarantined", "that object is " + state + ", not quarantined or skipped: nothing to retry");
  }
  // Later objects landed on a tree that lacked this one; they land again
  // after it, in order, so the tree ends as if nothing had been quarantined
  // (every add/modify carries the whole file; renames and deletions repeat
  // safely). Objects the operator skipped stay skipped.
  db_.prepare("UPDATE objects SET landing_state = 'pending', landing_reason = NULL, landing_changed_ms = ?3 "
              "WHERE facility = ?1 AND state = 'stored' AND (seq = ?2 OR (seq > ?2 AND landing_state IN ('landed', 'quarantined')))")
      .bind_all(facility, seq, now_ms)
      .run();
  const auto again = static_cast<std::uint64_t>(db_.changes());
  if (cursor_of(db_, facility) >= seq) set_cursor(db_, facility, seq - 1);
  transaction.commit();
  return again;
}

base::Status Store::skip_landing(std::string_view facility, std::uint64_t seq, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  db_.prepare("UPDATE objects SET landing_state = 'skipped', landing_changed_ms = ?3 "
              "WHERE facility = ?1 AND seq = ?2 AND state = 'stored' AND landing_state = 'quarantined'")
      .bind_all(facility, seq, now_ms)
      .run();
  if (db_.changes() != 1) return base::fail("not_quarantined", "no quarantined object with that seq for that facility");
  transaction.commit();
  return {};
}

std::vector<std::string> Store::facilities_with_objects() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  base::Statement query = db_.prepare("SELECT DISTINCT facility FROM objects ORDER BY facility");
  while (query.step()) out.push_back(query.column_text(0));
  return out;
}

std::vector<FacilityReport> Store::report() {
  std::lock_guard lock(mutex_);
  std::vector<FacilityReport> reports;
  base::Statement facilities = db_.prepare(
      "SELECT facility, count(*), sum(size), max(seq) FROM objects WHERE state = 'stored' GROUP BY facility "
      "ORDER BY facility");
  while (facilities.step()) {
    FacilityReport report;
    report.facility = facilities.column_text(0);
    report.objects = static_cast<std::uint64_t>(facilities.column_int64(1));
    report.bytes = static_cast<std::uint64_t>(facilities.column_int64(2));
    report.highest_seq = static_cast<std::uint64_t>(facilities.column_int64(3));
    reports.push_back(std::move(report));
  }
  for (FacilityReport& report : reports) {
    base::Statement seqs =
        db_.prepare("SELECT DISTINCT seq FROM objects WHERE facility = ?1 AND state = 'stored' ORDER BY seq");
    seqs.bind_all(report.facility);
    std::uint64_t expected = 1;
    while (seqs.step()) {
      const auto seq = static_cast<std::uint64_t>(seqs.column_int64(0));
      if (seq > expected) report.gaps.emplace_back(expected, seq - 1);
      expected = seq + 1;
    }
    report_landing(report);
    base::Statement open = db_.prepare("SELECT count(*) FROM uploads WHERE facility = ?1 AND completed = 0");
    open.bind_all(report.facility);
    if (open.step()) report.open_uploads = static_cast<std::uint64_t>(open.column_int64(0));
  }
  return reports;
}

void Store::report_landing(FacilityReport& report) {
  base::Statement landed =
      db_.prepare("SELECT landed_through, coalesce(paused_reason, ''), coalesce(paused_since_ms, 0) FROM landing "
                  "WHERE facility = ?1");
  landed.bind_all(report.facility);
  if (landed.step()) {
    report.landed_through = static_cast<std::uint64_t>(landed.column_int64(0));
    report.paused_reason = landed.column_text(1);
    report.paused_since_ms = landed.column_int64(2);
  }
  base::Statement quarantined = db_.prepare(
      "SELECT seq, coalesce(landing_reason, ''), coalesce(landing_changed_ms, 0) FROM objects "
      "WHERE facility = ?1 AND state = 'stored' AND landing_state = 'quarantined' ORDER BY seq");
  quarantined.bind_all(report.facility);
  while (quarantined.step()) {
    report.quarantined.push_back({static_cast<std::uint64_t>(quarantined.column_int64(0)), quarantined.column_text(1),
                                  quarantined.column_int64(2)});
  }
  base::Statement skipped = db_.prepare(
      "SELECT count(*) FROM objects WHERE facility = ?1 AND state = 'stored' AND landing_state = 'skipped'");
  skipped.bind_all(report.facility);
  if (skipped.step()) report.skipped = static_cast<std::uint64_t>(skipped.column_int64(0));
}

}  // namespace medgw::receiver
