#pragma once
// Bulk Data mode of a `fhir` source (FHIR Bulk Data Access 2.0): medgw
// kicks off an export (GET <url>/$export, Patient/$export or
// Group/<id>/$export with Prefer: respond-async and _outputFormat
// application/fhir+ndjson, _since = the transactionTime of the last export it
// staged, _type = `resources`), keeps the status URL of the 202 in state.db,
// and polls it as the server asks (Retry-After; a 429 or 5xx is waited out
// and retried). A pass polls for at most `wait` and leaves a running export
// to the next pass. When the manifest comes, every output file is downloaded
// (streamed to disk; with the access token when the manifest asks for it,
// never to a host a redirect names), then all of them are moved into staging
// at once (bulk/<transactionTime>-<job>/<Type>.<n>.ndjson), and only then is
// the transactionTime recorded as the next _since and the job deleted at the
// server. A crash before that downloads the export again (or finds it
// staged). A download stops when it would not fit under the spool's limits
// (the export stays and is downloaded again once there is room); an output
// file the server no longer has (404, 410) starts a new export.
#include <fhir/fetch_feed.hpp>
#include <fhir/fhir_session.hpp>

#include <base/json_reader.hpp>
#include <base/log.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace medgw::fhir {

struct BulkSettings {
  std::string source;
  std::string level = "system";  // system, patient or group
  std::string group;             // the Group's id (level group)
  std::vector<std::string> resources;  // _type; empty: all the server exports
  std::chrono::seconds wait{120};      // longest a pass waits for a running export
};

class BulkExporter final : public Fetcher {
 public:
  BulkExporter(BulkSettings settings, std::shared_ptr<FhirSession> session, log::Logger logger);
  [[nodiscard]] FetchOutcome fetch(const FetchContext& context) override;

 private:
  struct Job {
    std::string since;    // the last staged export's transactionTime (empty: none yet)
    std::string url;      // the running export's status URL (empty: none)
  };
  [[nodiscard]] Job load(base::Database& db) const;
  void save(base::Database& db, const Job& job) const;
  [[nodiscard]] base::Result<std::string> kick_off(const std::string& since);
  // The manifest, or an empty string while the export runs past `wait`.
  [[nodiscard]] base::Result<std::string> poll(const FetchContext& context, const std::string& status_url,
                                               FetchOutcome& outcome);
  [[nodiscard]] base::Status stage(const FetchContext& context, const std::string& manifest, Job& job,
                                   FetchOutcome& outcome);
  [[nodiscard]] base::Status download(const FetchContext& context, const base::JsonValue& output, bool token,
                                      const std::string& folder, std::map<std::string, int>& per_type,
                                      FetchOutcome& outcome);

  BulkSettings settings_;
  std::shared_ptr<FhirSession> session_;
  log::Logger logger_;
};

}  // namespace medgw::fhir
