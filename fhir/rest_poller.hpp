#pragma once
// REST mode of a `fhir` source: each pass searches every configured resource
// type by _lastUpdated (GET <url>/<Type>?_lastUpdated=ge<T>&_sort=_lastUpdated
// &_count=N, following Bundle.link "next" on the same server) from T = the
// newest lastUpdated fetched before (the watermark) minus an overlap window,
// so that a resource written while the previous pass read, or several with
// one lastUpdated, cannot fall between two passes. What the window brings
// again (same id and versionId, or same lastUpdated when the server keeps no
// versions) is dropped; a new version of a resource goes again.
//
// New resources are staged as NDJSON (rest/<pass time>/<Type>.<n>.ndjson, at
// most 10,000 lines each); each staged file's versions are recorded when the
// file is in place, the watermark once the type was read to its last page.
//
// The watermark moves only to instants before the search began (the server's
// Date), and not at all when a resource was written while the pages were
// read: a server paging by offset shifts its pages then, and a resource
// could be skipped; the next pass reads again from the old watermark (what it
// saw is dropped as a repeat). A server that keeps neither versionId nor
// lastUpdated has its resources compared by content. An error stops that
// type with what was staged so far kept; the other types go on, unless the
// server cannot be reached at all.
#include <fhir/fetch_feed.hpp>
#include <fhir/fhir_session.hpp>

#include <base/json_reader.hpp>
#include <base/log.hpp>
#include <base/sqlite.hpp>

#include <chrono>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace medgw::fhir {

struct RestSettings {
  std::string source;
  std::vector<std::string> resources;  // resource types, in this order (Patient first)
  std::chrono::seconds overlap{300};
  std::size_t page = 200;              // _count
  std::size_t lines_per_file = 10'000;
  std::size_t max_pages = 100'000;     // per type and pass: a server whose next links never end is refused
};

class RestPoller final : public Fetcher {
 public:
  RestPoller(RestSettings settings, std::shared_ptr<FhirSession> session, log::Logger logger);
  [[nodiscard]] FetchOutcome fetch(const FetchContext& context) override;

 struct TypeRun;  // (public for the helpers of rest_poller.cpp)

 private:
  [[nodiscard]] base::Status fetch_type(const FetchContext& context, TypeRun& run, FetchOutcome& outcome);
  [[nodiscard]] base::Result<base::JsonValue> search_page(const std::string& url, const std::string& type,
                                                          std::int64_t& server_time);
  void advance(base::Database& db, const TypeRun& run, std::optional<std::int64_t> mark);
  [[nodiscard]] base::Status flush(const FetchContext& context, TypeRun& run, FetchOutcome& outcome);
  [[nodiscard]] base::Status stage_page(const FetchContext& context, const base::JsonValue& bundle, TypeRun& run,
                                        base::Statement& seen, FetchOutcome& outcome);

  RestSettings settings_;
  std::shared_ptr<FhirSession> session_;
  log::Logger logger_;
};

// The default `resources` of REST mode: JP Core's clinical resources and
// what JP-CLINS and ePath documents are made of.
[[nodiscard]] const std::vector<std::string>& default_rest_resources();

}  // namespace medgw::fhir
