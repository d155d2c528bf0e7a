#include <fhir/bulk_export.hpp>

#include <fhir/instant.hpp>
#include <fhir/resource_rules.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/json_reader.hpp>
#include <base/sqlite.hpp>

#include <algorithm>
#include <map>

namespace medgw::fhir {
namespace {

using base::fail;


// The staging folder of an export: its transactionTime in UTC, compact, and
// a short hash of its status URL (two exports never share one).
std::string export_folder(const std::string& transaction_time, const std::string& status_url) {
  const std::optional<std::int64_t> micros = parse_instant(transaction_time);
  return (micros ? compact_instant(*micros) : "unknown") + "-" +
         base::to_hex(crypto::sha256(base::as_bytes(status_url))).substr(0, 8);
}

}  // namespace

BulkExporter::BulkExporter(BulkSettings settings, std::shared_ptr<FhirSession> session, log::Logger logger)
    : settings_(std::move(settings)), session_(std::move(session)), logger_(std::move(logger)) {}

BulkExporter::Job BulkExporter::load(base::Database& db) const {
  Job job;
  base::Statement query = db.prepare("SELECT since, job_url FROM fhir_bulk WHERE source = ?1");
  query.bind_all(settings_.source);
  if (query.step()) {
    if (!query.is_null(0)) job.since = query.column_text(0);
    if (!query.is_null(1)) job.url = query.column_text(1);
  }
  return job;
}

void BulkExporter::save(base::Database& db, const Job& job) const {
  auto optional = [](const std::string& text) { return text.empty() ? std::nullopt : std::optional<std::string>(text); };
  base::WriteTransaction transaction(db);
  db.prepare(
        "INSERT INTO fhir_bulk (source, since, job_url, job_since) VALUES (?1, ?2, ?3, ?2) "
        "ON CONFLICT (source) DO UPDATE SET since = ?2, job_url = ?3, job_since = ?2")
      .bind_all(settings_.source, optional(job.since), optional(job.url))
      .run();
  transaction.commit();
}

FetchOutcome BulkExporter::fetch(const FetchContext& context) {
  FetchOutcome outcome;
  Job job = load(context.db);
  if (job.url.empty()) {
    if (context.room() == 0) {
      outcome.stopped_for_room = true;
      return outcome;
    }
    auto status_url = kick_off(job.since);
    if (!status_url) {
      outcome.error = status_url.error();
      return outcome;
    }
    job.url = *status_url;
    save(context.db, job);
    logger_.info("fhir.export_started", "a Bulk Data export was started at the FHIR server",
                 {{"source", settings_.source}, {"since", job.since.empty() ? "(everything)" : job.since}});
  }
  auto manifest = poll(context, job.url, outcome);
  base::Status staged = manifest ? (manifest->empty() ? base::Status() : stage(context, *manifest, job, outcome))
                                 : base::Status(base::fail(manifest.error()));
  if (!staged) {
    if (staged.error().code == "fhir_export_gone") {
      job.url.clear();  // expired or failed at the server: a new export (same _since) next pass
      save(context.db, job);
    }
    outcome.error = staged.error();
  }
  return outcome;
}

base::Result<std::string> BulkExporter::kick_off(const std::string& since) {
  std::string path = "$export";
  if (settings_.level == "patient") path = "Patient/$export";
  if (settings_.level == "group") path = "Group/" + percent_encode(settings_.group) + "/$export";
  std::string url = session_->base_url() + path + "?_outputFormat=application%2Ffhir%2Bndjson";
  if (!since.empty()) url += "&_since=" + percent_encode(since, ":,");
  if (!settings_.resources.empty()) {
    std::string types;
    for (const std::string& type : settings_.resources) types += (types.empty() ? "" : ",") + type;
    url += "&_type=" + percent_encode(types, ":,");
  }
  HttpRequest request;
  request.url = url;
  request.headers = {"Accept: application/fhir+json", "Prefer: respond-async"};
  auto response = session_->send(request);
  if (!response) return fail(response.error());
  const std::string where = "the FHIR server at " + session_->host();
  if (response->status != 202) {
    return fail("fhir_export", where + " did not start the export (" + describe_status(response->status) + ")");
  }
  const auto location = response->headers.find("content-location");
  if (location == response->headers.end() || origin_of(location->second).empty()) {
    return fail("fhir_export", where + " started an export without a Content-Location to poll");
  }
  return location->second;
}

base::Result<std::string> BulkExporter::poll(const FetchContext& context, const std::string& status_url,
                                             FetchOutcome& outcome) {
  const auto deadline = std::chrono::steady_clock::now() + settings_.wait;
  const std::string where = "the FHIR server at " + session_->host();
  for (;;) {
    context.checkpoint();
    HttpRequest request;
    request.url = status_url;
    request.headers = {"Accept: application/json"};
    request.body_limit = 16U << 20;  // the manifest, parsed whole
    auto response = session_->send(request);
    if (!response) return fail(response.error());
    const long status = response->status;
    if (status == 200) return std::move(response->body);
    if (status == 202) {
      if (std::chrono::steady_clock::now() + std::chrono::seconds(retry_after_seconds(*response, 10)) > deadline) {
        const auto progress = response->headers.find("x-progress");
        outcome.waiting = "the Bulk Data export is still running at the FHIR server" +
                          (progress == response->headers.end() ? std::string() : " (" + progress->second.substr(0, 100) + ")") +
                          "; the next pass looks again";
        return std::string();
      }
      session_->wait(*response, 10);
      continue;
    }
    if (status == 404 || status == 410 || (status >= 400 && status < 500 && status != 429)) {
      return fail("fhir_export_gone", where + " answered the export's status with " + describe_status(status) +
                                          "; a new export is started next pass");
    }
    return fail("fhir_export", where + " answered the export's status with " + describe_status(status));
  }
}

base::Status BulkExporter::stage(const FetchContext& context, const std::string& manifest_text, Job& job,
                                 FetchOutcome& outcome) {
  const std::string where = "the FHIR server at " + session_->host();
  base::JsonValue manifest;
  std::string transaction_time;
  try {
    manifest = base::JsonValue::parse(manifest_text);
    transaction_time = manifest.string_at("transactionTime");
  } catch (const base::JsonError&) {
    return fail("fhir_export", where + " sent an export manifest that is not JSON with a transactionTime");
  }
  if (!parse_instant(transaction_time)) {
    return fail("fhir_export", where + " sent an export manifest whose transactionTime is not an instant");
  }
  const base::JsonValue* requires_token = manifest.find("requiresAccessToken");
  const bool token = requires_token == nullptr || requires_token->boolean();
  const std::string folder = export_folder(transaction_time, job.url);
  const std::string relative = "bulk/" + folder;
  // A crash after the files were moved in but before the record: they are staged already.
  if (!std::filesystem::exists(context.staging.root() / relative)) {
    std::map<std::string, int> per_type;
    if (const base::JsonValue* outputs = manifest.find("output")) {
      for (const base::JsonValue& output : outputs->items()) {
        context.checkpoint();
        if (auto fetched = download(context, output, token, folder, per_type, outcome); !fetched) {
          if (fetched.error().code != "fhir_no_room") return fetched;
          outcome.stopped_for_room = true;  // the job stays: downloaded again once there is room
          logger_.warn("fhir.export_no_room", fetched.error().message + "; the export is downloaded again once uploads "
                                                                       "free room",
                       {{"source", settings_.source}});
          return {};
        }
      }
    }
    if (const base::JsonValue* errors = manifest.find("error"); errors != nullptr && !errors->items().empty()) {
      logger_.warn("fhir.export_errors",
                   "the export's manifest lists error files (OperationOutcome): resources the server could not "
                   "export are missing from it; check the server's export log",
                   {{"source", settings_.source}, {"files", static_cast<std::uint64_t>(errors->items().size())}});
    }
    if (outcome.files > 0) {
      if (auto published = context.staging.publish_folder(folder, relative); !published) return published;
    }
  }
  // Staged: the next export starts from this one's transactionTime.
  const std::string status_url = job.url;
  job.since = transaction_time;
  job.url.clear();
  save(context.db, job);
  HttpRequest done;
  done.method = "DELETE";
  done.url = status_url;
  (void)session_->send(done);  // a courtesy: the server may delete the files now
  logger_.info("fhir.export_staged", "a Bulk Data export was downloaded and staged",
               {{"source", settings_.source}, {"files", outcome.files}, {"bytes", outcome.bytes},
                {"transaction_time", transaction_time}});
  return {};
}

// One output file of the manifest, streamed into partial/<folder>/<Type>.<n>.ndjson.
base::Status BulkExporter::download(const FetchContext& context, const base::JsonValue& output, bool token,
                                    const std::string& folder, std::map<std::string, int>& per_type,
                                    FetchOutcome& outcome) {
  const std::string where = "the FHIR server at " + session_->host();
  const base::JsonValue* type = output.find("type");
  const base::JsonValue* url = output.find("url");
  if (type == nullptr || url == nullptr || !known_r4_type(type->text()) || origin_of(url->text()).empty()) {
    return fail("fhir_export", where + " listed an output file without a known resource type and URL");
  }
  const std::uint64_t room = context.room();
  if (room == 0) return fail("fhir_no_room", "the spool and staged data reached spool.max_bytes or the disk its floor");
  auto part = context.staging.open_part(folder);
  if (!part) return fail(part.error());
  HttpRequest request;
  request.url = url->text();
  request.headers = {"Accept: application/fhir+ndjson"};
  request.body_fd = part->fd();
  request.file_limit = room;
  auto response = session_->send(request, token);
  if (!response) return fail(response.error());
  if (response->status == 404 || response->status == 410) {
    return fail("fhir_export_gone", "an output file of the export is gone at " + host_of(response->url) + " (HTTP " +
                                        std::to_string(response->status) + "); a new export is started next pass");
  }
  if (response->status != 200) {
    return fail("fhir_export", "an output file of the export (at " + host_of(response->url) + ") answered " +
                                   describe_status(response->status));
  }
  part->note_bytes(response->bytes);
  const std::string name = type->text() + "." + std::to_string(++per_type[type->text()]) + ".ndjson";
  const std::filesystem::path named = part->path().parent_path() / name;
  part->take_fd().reset();
  std::error_code renamed;
  std::filesystem::rename(part->path(), named, renamed);
  if (renamed) return fail("fhir_staging", "cannot name a downloaded file in " + named.parent_path().string());
  if (const base::JsonValue* count = output.find("count"); count != nullptr && count->as_uint()) {
    outcome.resources += *count->as_uint();
  }
  ++outcome.files;
  outcome.bytes += part->bytes();
  return {};
}

}  // namespace medgw::fhir
