#include <fhir/rest_poller.hpp>

#include <fhir/instant.hpp>
#include <fhir/resource_rules.hpp>

#include <base/json_reader.hpp>
#include <base/sqlite.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

namespace medgw::fhir {
namespace {

using base::fail;

struct Fetched {
  std::string id;
  std::string version;
  std::int64_t updated = 0;
};

std::string pass_folder() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return "rest/" + compact_instant(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

const base::JsonValue* next_link(const base::JsonValue& bundle) {
  const base::JsonValue* links = bundle.find("link");
  if (links == nullptr) return nullptr;
  for (const base::JsonValue& link : links->items()) {
    const base::JsonValue* relation = link.find("relation");
    const base::JsonValue* url = link.find("url");
    if (relation != nullptr && relation->text() == "next" && url != nullptr && url->is_string()) return url;
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& default_rest_resources() {
  static const std::vector<std::string> types{
      "Patient",          "Encounter",         "Condition",  "AllergyIntolerance", "Observation",
      "MedicationRequest", "MedicationStatement", "Immunization", "Procedure",         "DiagnosticReport",
      "ServiceRequest",   "DocumentReference", "Composition", "CarePlan",           "Goal"};
  return types;
}

// One resource type's fetch in progress: the file being written and the
// versions it holds, recorded together once the file is in place.
struct RestPoller::TypeRun {
  std::string type;
  std::string folder;
  std::optional<FetchStaging::Part> part;
  std::vector<Fetched> rows;
  std::set<std::string, std::less<>> ids;  // in `rows`: a resource a shifting page shows twice goes once
  int files = 0;
  std::int64_t newest = std::numeric_limits<std::int64_t>::min();
};

RestPoller::RestPoller(RestSettings settings, std::shared_ptr<FhirSession> session, log::Logger logger)
    : settings_(std::move(settings)), session_(std::move(session)), logger_(std::move(logger)) {
  if (settings_.resources.empty()) settings_.resources = default_rest_resources();
}

FetchOutcome RestPoller::fetch(base::Database& db, FetchStaging& staging, const std::function<bool()>& room) {
  FetchOutcome outcome;
  const std::string folder = pass_folder();
  for (const std::string& type : settings_.resources) {
    if (base::Status done = fetch_type(db, staging, type, folder, room, outcome); !done) {
      outcome.error = done.error();
      break;
    }
    if (outcome.stopped_for_room) break;
  }
  return outcome;
}

base::Status RestPoller::fetch_type(base::Database& db, FetchStaging& staging, const std::string& type,
                                    const std::string& folder, const std::function<bool()>& room,
                                    FetchOutcome& outcome) {
  std::optional<std::int64_t> mark;
  {
    base::Statement query = db.prepare("SELECT watermark FROM fhir_rest_marks WHERE source = ?1 AND type = ?2");
    query.bind_all(settings_.source, type);
    if (query.step()) mark = query.column_int64(0);
  }
  const std::int64_t overlap = std::chrono::duration_cast<std::chrono::microseconds>(settings_.overlap).count();
  TypeRun run;
  run.type = type;
  run.folder = folder;
  if (mark) run.newest = *mark;
  base::Statement seen =
      db.prepare("SELECT version_id, last_updated FROM fhir_rest_seen WHERE source = ?1 AND type = ?2 AND id = ?3");

  std::string url = session_->base_url() + type + "?_count=" + std::to_string(settings_.page) + "&_sort=_lastUpdated";
  if (mark) url += "&_lastUpdated=ge" + format_instant(*mark - overlap);
  const std::string where = "the FHIR server at " + session_->host();
  for (;;) {
    if (!room()) {
      outcome.stopped_for_room = true;
      return flush(db, staging, run, outcome);
    }
    HttpRequest request;
    request.url = url;
    request.headers = {"Accept: application/fhir+json"};
    request.body_limit = 16U << 20;  // a page is parsed whole: bounded (200 resources are ~1 MiB)
    auto response = session_->send(request);
    if (!response) return fail(response.error());
    if (response->status != 200) {
      return fail("fhir_rest", where + " answered the search of " + type + " with " + describe_status(response->status));
    }
    base::JsonValue bundle;
    try {
      bundle = base::JsonValue::parse(response->body);
    } catch (const base::JsonError&) {
      return fail("fhir_rest", where + " answered the search of " + type + " with something else than JSON");
    }
    const base::JsonValue* kind = bundle.find("resourceType");
    if (kind == nullptr || kind->text() != "Bundle") {
      return fail("fhir_rest", where + " answered the search of " + type + " without a Bundle");
    }
    if (auto staged = stage_page(db, bundle, run, seen, staging, outcome); !staged) return staged;
    const base::JsonValue* next = next_link(bundle);
    if (next == nullptr) break;
    if (origin_of(next->text()) != origin_of(session_->base_url())) {
      return fail("fhir_rest", where + " sent a next-page link to another server (" + host_of(next->text()) +
                                   "); medgw follows links on the same server only");
    }
    url = next->text();
  }
  if (auto flushed = flush(db, staging, run, outcome); !flushed) return flushed;
  // Read to the last page: the watermark moves, and versions older than its
  // window are forgotten (a search from it cannot return them unchanged).
  if (run.newest != std::numeric_limits<std::int64_t>::min() && (!mark || run.newest > *mark)) {
    base::WriteTransaction transaction(db);
    db.prepare(
          "INSERT INTO fhir_rest_marks (source, type, watermark) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (source, type) DO UPDATE SET watermark = ?3")
        .bind_all(settings_.source, type, run.newest)
        .run();
    db.prepare("DELETE FROM fhir_rest_seen WHERE source = ?1 AND type = ?2 AND last_updated != 0 AND last_updated < ?3")
        .bind_all(settings_.source, type, run.newest - overlap)
        .run();
    transaction.commit();
  }
  return {};
}


// Puts the run's file in place, then records the versions it holds.
base::Status RestPoller::flush(base::Database& db, FetchStaging& staging, TypeRun& run, FetchOutcome& outcome) {
  const std::string& type = run.type;
  if (!run.part || run.part->lines() == 0) return {};
  const std::string name = run.folder + "/" + type + "." + std::to_string(++run.files) + ".ndjson";
  if (auto published = staging.publish(*run.part, name); !published) return published;
  ++outcome.files;
  outcome.bytes += run.part->bytes();
  run.part.reset();
  base::WriteTransaction transaction(db);
  base::Statement upsert = db.prepare(
      "INSERT INTO fhir_rest_seen (source, type, id, version_id, last_updated) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (source, type, id) DO UPDATE SET version_id = ?4, last_updated = ?5");
  for (const Fetched& row : run.rows) {
    upsert.bind_all(settings_.source, type, row.id, row.version, row.updated).run();
    upsert.reset();
  }
  transaction.commit();
  run.rows.clear();
  run.ids.clear();
  return {};
}

// Stages the resources of one search page that are new or changed.
base::Status RestPoller::stage_page(base::Database& db, const base::JsonValue& bundle, TypeRun& run,
                                    base::Statement& seen, FetchStaging& staging, FetchOutcome& outcome) {
  const std::string& type = run.type;
  if (const base::JsonValue* entries = bundle.find("entry")) {
    for (const base::JsonValue& entry : entries->items()) {
      const base::JsonValue* search = entry.find("search");
      const base::JsonValue* mode = search != nullptr ? search->find("mode") : nullptr;
      const base::JsonValue* resource = entry.find("resource");
      if (resource == nullptr || (mode != nullptr && mode->text() != "match")) continue;  // outcome, include
      const base::JsonValue* resource_type = resource->find("resourceType");
      if (resource_type == nullptr || resource_type->text() != type) continue;
      Fetched row;
      if (const base::JsonValue* id = resource->find("id"); id != nullptr && id->is_string()) row.id = id->text();
      if (const base::JsonValue* meta = resource->find("meta")) {
        if (const base::JsonValue* version = meta->find("versionId"); version != nullptr) row.version = version->text();
        if (const base::JsonValue* updated = meta->find("lastUpdated"); updated != nullptr) {
          row.updated = parse_instant(updated->text()).value_or(0);
        }
      }
      if (!row.id.empty()) {
        if (run.ids.contains(row.id)) continue;
        seen.bind_all(settings_.source, type, row.id);
        const bool again = seen.step() && seen.column_text(0) == row.version && seen.column_int64(1) == row.updated;
        seen.reset();
        if (again) continue;  // the overlap window's repeat
      }
      if (!run.part) {
        auto part = staging.open_part();
        if (!part) return fail(part.error());
        run.part.emplace(std::move(*part));
      }
      if (auto wrote = run.part->append(to_json(*resource)); !wrote) return wrote;
      ++outcome.resources;
      if (row.updated != 0) run.newest = std::max(run.newest, row.updated);
      if (!row.id.empty()) {
        run.ids.insert(row.id);
        run.rows.push_back(std::move(row));
      }
      if (run.part->lines() >= settings_.lines_per_file) {
        if (auto flushed = flush(db, staging, run, outcome); !flushed) return flushed;
      }
    }
  }
  return {};
}

}  // namespace medgw::fhir
