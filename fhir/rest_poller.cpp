#include <fhir/rest_poller.hpp>

#include <fhir/instant.hpp>
#include <fhir/resource_rules.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/json_reader.hpp>
#include <base/sqlite.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <limits>
#include <optional>
#include <map>
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

std::time_t curl_date(const std::string& text) { return curl_getdate(text.c_str(), nullptr); }

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
  // Versions in `rows` by id: a resource a shifting page shows twice goes once (a new version of it goes too).
  std::map<std::string, std::pair<std::string, std::int64_t>, std::less<>> ids;
  int files = 0;
  std::int64_t started = 0;  // the server's time when the search began (its Date, less a second)
  std::int64_t newest = std::numeric_limits<std::int64_t>::min();  // newest lastUpdated before `started`
  bool written_meanwhile = false;  // a resource was written while the pages were read
  std::uint64_t future = 0;        // resources dated more than an hour after `started`
};

namespace {

// Where a fetched resource's lastUpdated leaves the watermark.
void note_time(RestPoller::TypeRun& run, std::int64_t updated) {
  if (updated == 0) return;
  if (updated < run.started) {
    run.newest = std::max(run.newest, updated);
  } else if (updated <= run.started + 3'600'000'000LL) {
    run.written_meanwhile = true;
  } else {
    ++run.future;
  }
}

}  // namespace

RestPoller::RestPoller(RestSettings settings, std::shared_ptr<FhirSession> session, log::Logger logger)
    : settings_(std::move(settings)), session_(std::move(session)), logger_(std::move(logger)) {
  if (settings_.resources.empty()) settings_.resources = default_rest_resources();
}

FetchOutcome RestPoller::fetch(const FetchContext& context) {
  FetchOutcome outcome;
  const std::string folder = pass_folder();
  std::uint64_t failed_types = 0;
  for (const std::string& type : settings_.resources) {
    context.checkpoint();
    TypeRun run;
    run.type = type;
    run.folder = folder;
    base::Status done = fetch_type(context, run, outcome);
    if (run.future > 0) {
      logger_.warn("fhir.future_resources",
                   "the FHIR server dated resources more than an hour ahead of its own clock; they are fetched, but "
                   "the watermark does not move past them",
                   {{"source", settings_.source}, {"type", type}, {"resources", run.future}});
    }
    if (!done) {
      ++failed_types;
      if (!outcome.error) outcome.error = done.error();
      // A type the server refuses does not hold back the others; one it cannot be reached for does.
      if (done.error().code != "fhir_rest") break;
    }
    if (outcome.stopped_for_room) break;
  }
  if (failed_types > 1) outcome.error->message += " (and " + std::to_string(failed_types - 1) + " more resource types)";
  return outcome;
}

base::Result<base::JsonValue> RestPoller::search_page(const std::string& url, const std::string& type,
                                                      std::int64_t& server_time) {
  const std::string where = "the FHIR server at " + session_->host();
  HttpRequest request;
  request.url = url;
  request.headers = {"Accept: application/fhir+json"};
  request.body_limit = 16U << 20;  // a page is parsed whole: bounded (200 resources are ~1 MiB)
  auto response = session_->send(request);
  if (!response) return fail(response.error());
  if (response->status != 200) {
    return fail("fhir_rest", where + " answered the search of " + type + " with " + describe_status(response->status));
  }
  if (const auto date = response->headers.find("date"); date != response->headers.end()) {
    if (const std::time_t when = curl_date(date->second); when > 0) server_time = static_cast<std::int64_t>(when) * 1'000'000;
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
  return bundle;
}

base::Status RestPoller::fetch_type(const FetchContext& context, TypeRun& run, FetchOutcome& outcome) {
  const std::string& type = run.type;
  std::optional<std::int64_t> mark;
  {
    base::Statement query = context.db.prepare("SELECT watermark FROM fhir_rest_marks WHERE source = ?1 AND type = ?2");
    query.bind_all(settings_.source, type);
    if (query.step()) mark = query.column_int64(0);
  }
  const std::int64_t overlap = std::chrono::duration_cast<std::chrono::microseconds>(settings_.overlap).count();
  if (mark) run.newest = *mark;
  base::Statement seen = context.db.prepare(
      "SELECT version_id, last_updated FROM fhir_rest_seen WHERE source = ?1 AND type = ?2 AND id = ?3");
  std::string url = session_->base_url() + type + "?_count=" + std::to_string(settings_.page) + "&_sort=_lastUpdated";
  if (mark) url += "&_lastUpdated=ge" + format_instant(*mark - overlap);
  const std::string where = "the FHIR server at " + session_->host();
  std::set<std::string, std::less<>> asked;
  for (std::size_t page = 0;; ++page) {
    context.checkpoint();
    if (context.room() == 0) {
      outcome.stopped_for_room = true;
      return flush(context, run, outcome);
    }
    if (page >= settings_.max_pages || !asked.insert(url).second) {
      if (auto flushed = flush(context, run, outcome); !flushed) return flushed;
      return fail("fhir_rest", where + " kept sending next-page links for " + type + " (" + std::to_string(page) +
                                   " pages, or a page asked before); what was read is kept, the watermark does not move");
    }
    std::int64_t server_time = 0;
    auto bundle = search_page(url, type, server_time);
    if (!bundle) {
      if (auto flushed = flush(context, run, outcome); !flushed) return flushed;
      return fail(bundle.error());
    }
    if (page == 0) {
      const auto local = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
      run.started = (server_time != 0 ? server_time : local) - 1'000'000;
    }
    if (auto staged = stage_page(context, *bundle, run, seen, outcome); !staged) return staged;
    const base::JsonValue* next = next_link(*bundle);
    if (next == nullptr) break;
    if (origin_of(next->text()) != origin_of(session_->base_url())) {
      if (auto flushed = flush(context, run, outcome); !flushed) return flushed;
      return fail("fhir_rest", where + " sent a next-page link to another server (" + host_of(next->text()) +
                                   "); medgw follows links on the same server only");
    }
    url = next->text();
  }
  if (auto flushed = flush(context, run, outcome); !flushed) return flushed;
  advance(context.db, run, mark);
  return {};
}

// Read to the last page: the watermark moves (unless pages may have shifted
// meanwhile), and versions older than its window are forgotten (a search
// from it cannot return them unchanged).
void RestPoller::advance(base::Database& db, const TypeRun& run, std::optional<std::int64_t> mark) {
  if (run.written_meanwhile) {
    logger_.debug("fhir.watermark_held", "resources were written while the pages were read; the next pass reads again "
                                         "from the same watermark",
                  {{"source", settings_.source}, {"type", run.type}});
    return;
  }
  if (run.newest == std::numeric_limits<std::int64_t>::min() || (mark && run.newest <= *mark)) return;
  const std::int64_t overlap = std::chrono::duration_cast<std::chrono::microseconds>(settings_.overlap).count();
  base::WriteTransaction transaction(db);
  db.prepare(
        "INSERT INTO fhir_rest_marks (source, type, watermark) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (source, type) DO UPDATE SET watermark = ?3")
      .bind_all(settings_.source, run.type, run.newest)
      .run();
  db.prepare("DELETE FROM fhir_rest_seen WHERE source = ?1 AND type = ?2 AND last_updated != 0 AND last_updated < ?3")
      .bind_all(settings_.source, run.type, run.newest - overlap)
      .run();
  transaction.commit();
}

// Puts the run's file in place, then records the versions it holds.
base::Status RestPoller::flush(const FetchContext& context, TypeRun& run, FetchOutcome& outcome) {
  const std::string& type = run.type;
  if (!run.part || run.part->lines() == 0) return {};
  const std::string name = run.folder + "/" + type + "." + std::to_string(++run.files) + ".ndjson";
  if (auto published = context.staging.publish(*run.part, name); !published) return published;
  base::Database& db = context.db;
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
base::Status RestPoller::stage_page(const FetchContext& context, const base::JsonValue& bundle, TypeRun& run,
                                    base::Statement& seen, FetchOutcome& outcome) {
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
      std::string json = to_json(*resource);
      if (row.version.empty() && row.updated == 0) {
        // A server without versions or lastUpdated: a change is a change of content.
        row.version = "#" + base::to_hex(crypto::sha256(base::as_bytes(json))).substr(0, 32);
      }
      if (!row.id.empty()) {
        const auto known = run.ids.find(row.id);
        if (known != run.ids.end() && known->second == std::make_pair(row.version, row.updated)) continue;
        seen.bind_all(settings_.source, type, row.id);
        const bool again = seen.step() && seen.column_text(0) == row.version && seen.column_int64(1) == row.updated;
        seen.reset();
        if (again) continue;  // the overlap window's repeat
      }
      if (!run.part) {
        auto part = context.staging.open_part();
        if (!part) return fail(part.error());
        run.part.emplace(std::move(*part));
      }
      if (auto wrote = run.part->append(json); !wrote) return wrote;
      ++outcome.resources;
      note_time(run, row.updated);
      if (!row.id.empty()) {
        run.ids[row.id] = {row.version, row.updated};
        run.rows.push_back(std::move(row));
      }
      if (run.part->lines() >= settings_.lines_per_file) {
        if (auto flushed = flush(context, run, outcome); !flushed) return flushed;
      }
    }
  }
  return {};
}

}  // namespace medgw::fhir
