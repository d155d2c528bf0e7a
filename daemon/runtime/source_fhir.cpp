// Source type `fhir` (issue 21): FHIR R4 data of the hospital's EHR.
//   files: a folder the EHR drops files into (*.ndjson, *.json Bundles),
//          read as a folder tree with the FHIR profile (fhir/fhir_profile.hpp);
//   rest:  a FHIR server searched by _lastUpdated (fhir/rest_poller.hpp);
//   bulk:  a FHIR server's Bulk Data $export (fhir/bulk_export.hpp).
// rest and bulk stage what they fetch in state_dir/fhir/<name>/fetched and
// read it with the same profile (fhir/fetch_feed.hpp).
#include <daemon/runtime/builtin_sources.hpp>

#include <fhir/bulk_export.hpp>
#include <fhir/fetch_feed.hpp>
#include <fhir/fhir_profile.hpp>
#include <fhir/resource_rules.hpp>
#include <fhir/rest_poller.hpp>

#include <array>

namespace medgw::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 3> modes{"files", "rest", "bulk"};
constexpr std::array<std::string_view, 3> levels{"system", "patient", "group"};

std::string check_url(const ConfigValue& value) {
  if (value.text.empty()) return {};  // files mode (check_mode asks for it in the others)
  if (!value.text.starts_with("http://") && !value.text.starts_with("https://")) return "must start with http:// or https://";
  if (value.text.find_first_of("?#") != std::string::npos) return "must have no ?query or #fragment";
  return {};
}

std::string check_overlap(const ConfigValue& value) {
  if (value.duration < std::chrono::seconds(1)) {
    return "must be at least 1s: without an overlap, a resource written while the last search read, or one "
           "sharing the newest lastUpdated, can be missed";
  }
  return {};
}

std::string check_resources(const ConfigValue& value) {
  for (const std::string& type : value.list) {
    if (!fhir::known_r4_type(type)) return "\"" + type + "\" is not a FHIR R4 resource type (they are spelt like Observation)";
  }
  return {};
}

constexpr std::array keys{
    KeySpec{"mode", ValueKind::choice, "choice", false, "files",
            "files: a folder the EHR drops FHIR R4 files into (*.ndjson, *.json Bundles); rest: medgw searches a FHIR "
            "server by _lastUpdated; bulk: medgw runs the server's Bulk Data $export.",
            modes, nullptr, nullptr},
    KeySpec{"path", ValueKind::path, "path", false, "",
            "files: the folder the FHIR files are dropped into; medgw only reads it.", {}, nullptr, nullptr,
            Sensitivity::phi_path, true},
    KeySpec{"url", ValueKind::text, "URL", false, "",
            "rest, bulk: the FHIR base URL, e.g. https://ehr.example.local/fhir/R4/.", {}, check_url, nullptr,
            Sensitivity::secret},
    KeySpec{"resources", ValueKind::list, "list", false, "[]",
            "rest: resource types searched, in order (empty: Patient, Encounter, Condition, AllergyIntolerance, "
            "Observation, MedicationRequest, MedicationStatement, Immunization, Procedure, DiagnosticReport, "
            "ServiceRequest, DocumentReference, Composition, CarePlan, Goal); bulk: _type (empty: all).",
            {}, check_resources, nullptr},
    KeySpec{"overlap", ValueKind::duration, "duration", false, "5m",
            "rest: how far before the newest lastUpdated already fetched each search starts again (what it brings "
            "twice is dropped by id and versionId).",
            {}, check_overlap, nullptr},
    KeySpec{"export_level", ValueKind::choice, "choice", false, "system",
            "bulk: system ($export), patient (Patient/$export) or group (Group/<group>/$export).", levels, nullptr,
            nullptr},
    KeySpec{"group", ValueKind::text, "text", false, "", "bulk, export_level group: the Group's id.", {}, nullptr, nullptr},
    KeySpec{"export_wait", ValueKind::duration, "duration", false, "2m",
            "bulk: how long a pass waits for a running export before leaving it to the next pass.", {}, nullptr,
            nullptr},
    KeySpec{"ca", ValueKind::path, "path", false, "",
            "rest, bulk over https: the CA that signed the server's certificate (empty: the system's CAs).", {},
            nullptr, nullptr},
    KeySpec{"cert", ValueKind::path, "path", false, "",
            "rest, bulk: a client certificate (mutual TLS), if the server asks for one.", {}, nullptr, nullptr},
    KeySpec{"key", ValueKind::path, "path", false, "", "rest, bulk: the client certificate's key (0600).", {}, nullptr,
            nullptr, Sensitivity::plain, false, true},
    KeySpec{"token_url", ValueKind::text, "URL", false, "",
            "rest, bulk with SMART Backend Services: the server's token endpoint.", {}, check_url, nullptr},
    KeySpec{"client_id", ValueKind::text, "text", false, "",
            "SMART Backend Services: the client id the EHR registered for medgw.", {}, nullptr, nullptr},
    KeySpec{"signing_key", ValueKind::path, "path", false, "",
            "SMART Backend Services: medgw's private key (PEM, 0600; EC P-384 signs ES384, RSA RS384); its public "
            "key is registered at the EHR.",
            {}, nullptr, nullptr, Sensitivity::plain, false, true},
    KeySpec{"key_id", ValueKind::text, "text", false, "",
            "SMART Backend Services: the kid of the signing key as registered (JWKS).", {}, nullptr, nullptr},
    KeySpec{"scope", ValueKind::text, "text", false, "system/*.read",
            "SMART Backend Services: the scope asked for, e.g. system/*.read or system/*.rs.", {}, nullptr, nullptr},
};

std::vector<std::string> own_name(const SourceConfig& source) { return {source.name}; }

std::vector<std::pair<std::string, std::string>> check_mode(const SourceConfig& source) {
  std::vector<std::pair<std::string, std::string>> problems;
  const std::string mode = source.text("mode");
  if (mode == "files") {
    if (source.text("path").empty()) problems.emplace_back("path", "mode files needs the folder the EHR drops files into");
    if (!source.text("url").empty()) problems.emplace_back("url", "is for modes rest and bulk; leave it out with mode files");
    return problems;
  }
  if (source.text("url").empty()) {
    problems.emplace_back("url", "mode " + mode + " needs the FHIR base URL, e.g. https://ehr.example.local/fhir/R4/");
  }
  if (!source.text("path").empty()) problems.emplace_back("path", "is for mode files; leave it out with mode " + mode);
  if (mode == "bulk" && source.text("export_level") == "group" && source.text("group").empty()) {
    problems.emplace_back("group", "export_level group needs the Group's id");
  }
  const bool token_url = !source.text("token_url").empty();
  const bool client_id = !source.text("client_id").empty();
  const bool signing_key = !source.text("signing_key").empty();
  if ((token_url || client_id || signing_key) && !(token_url && client_id && signing_key)) {
    problems.emplace_back(token_url ? (client_id ? "signing_key" : "client_id") : "token_url",
                          "SMART Backend Services needs token_url, client_id and signing_key together");
  }
  if (source.text("cert").empty() != source.text("key").empty()) {
    problems.emplace_back(source.text("cert").empty() ? "cert" : "key", "a client certificate needs both cert and key");
  }
  return problems;
}

const SourceTypeSpec spec{"fhir",
                          "FHIR R4 data of the EHR (JP Core, JP-CLINS, ePath): NDJSON and Bundle files, a FHIR server "
                          "searched by _lastUpdated, or its Bulk Data export.",
                          keys, "10m", "30s", own_name, check_mode};

std::chrono::seconds seconds_of(const SourceConfig& source, std::string_view key, std::chrono::seconds fallback) {
  const ConfigValue* value = source.setting(key);
  if (value == nullptr) return fallback;
  return std::chrono::duration_cast<std::chrono::seconds>(value->duration);
}

std::shared_ptr<fhir::FhirSession> session_of(const SourceConfig& source) {
  fhir::SessionSettings settings;
  settings.base_url = source.text("url");
  settings.tls = {source.path("ca"), source.path("cert"), source.path("key")};
  if (!source.text("token_url").empty()) {
    settings.smart = fhir::SmartSettings{source.text("token_url"), source.text("client_id"), source.path("signing_key"),
                                         source.text("key_id"), source.text("scope")};
  }
  return std::make_shared<fhir::FhirSession>(std::move(settings));
}

std::shared_ptr<fhir::Fetcher> fetcher_of(const SourceConfig& source, const log::Logger& logger) {
  std::vector<std::string> resources;
  if (const ConfigValue* list = source.setting("resources")) resources = list->list;
  if (source.text("mode") == "bulk") {
    fhir::BulkSettings bulk{source.name, source.text("export_level"), source.text("group"), resources,
                            seconds_of(source, "export_wait", std::chrono::minutes(2))};
    return std::make_shared<fhir::BulkExporter>(std::move(bulk), session_of(source), logger);
  }
  fhir::RestSettings rest{source.name, resources, seconds_of(source, "overlap", std::chrono::minutes(5))};
  return std::make_shared<fhir::RestPoller>(std::move(rest), session_of(source), logger);
}

std::vector<SourcePass> passes(const SourceConfig& source, const SourceContext& context) {
  const std::string system = fhir::patient_id_system(context.facility_code);
  const fs::path folder = context.state_dir / "fhir" / source.name;
  if (source.text("mode") == "files") {
    auto directory = std::make_shared<fhir::PatientDirectory>(folder, source.path("path"), system);
    return {folder_pass(source.name, source.path("path"), source,
                        std::make_shared<fhir::FhirProfile>(system, std::move(directory)))};
  }
  const fs::path fetched = folder / "fetched";
  auto directory = std::make_shared<fhir::PatientDirectory>(folder, fetched, system);
  auto profile = std::make_shared<fhir::FhirProfile>(system, std::move(directory));
  SourcePass pass;
  pass.label = source.name;
  pass.root = fetched;
  pass.scan_interval = source.scan_interval;
  pass.settle = source.settle;
  pass.profile = profile;
  pass.make_feed = [source, context, folder, profile](const FeedContext& feed) -> std::unique_ptr<collectors::ChangeFeed> {
    auto staging = std::make_shared<fhir::FetchStaging>(folder);
    auto room = [staging, context] { return room_left(context.state_dir, context.limits, staging->usage()); };
    return std::make_unique<fhir::FetchFeed>(feed.state, profile, feed.settings, feed.logger, feed.clock, feed.progress,
                                             staging, fetcher_of(source, feed.logger), room);
  };
  return {std::move(pass)};
}

}  // namespace

const SourceType& fhir_source_type() {
  static const SourceType type{spec, passes};
  return type;
}

}  // namespace medgw::daemon
