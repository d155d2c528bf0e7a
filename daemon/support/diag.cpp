#include <daemon/support/diag.hpp>

#include <daemon/support/bundle.hpp>
#include <daemon/support/certificates.hpp>
#include <daemon/support/config_render.hpp>
#include <daemon/support/http_probe.hpp>
#include <daemon/support/log_tail.hpp>
#include <daemon/support/redactor.hpp>
#include <daemon/support/state_facts.hpp>
#include <daemon/support/system_facts.hpp>

#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <daemon/runtime/status_report.hpp>

#include <collectors/notice.hpp>
#include <collectors/optout.hpp>

#include <crypto/random.hpp>

#include <base/json.hpp>
#include <base/time_format.hpp>

#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::string_view service_unit = "medgw";

struct Context {
  const DiagOptions& options;
  std::chrono::system_clock::time_point now;
  LoadResult loaded;
  ConfigValues values;
  Config config;  // the valid configuration, or what could be read of an invalid one
  std::optional<SourcePlan> plan;
  std::shared_ptr<crypto::PatientTagger> tagger;
  std::unique_ptr<Redactor> redactor;
  std::vector<BundleEntry> entries;
  std::vector<std::pair<std::string, std::string>> left_out;  // what could not be included, and why
  std::string ids_source;     // where the redactor's patient IDs came from
  std::string optout_source;

  void add(std::string name, std::string content, std::string why) {
    entries.push_back({std::move(name), std::move(content), std::move(why)});
  }
};

// What an invalid configuration still tells: paths to look at, with the
// defaults of the table where it says nothing usable.
Config fallback_config(const ConfigValues& values) {
  Config config;
  auto text = [&](std::string_view key, std::string fallback) {
    std::string value = values.text(key);
    return value.empty() ? fallback : value;
  };
  // Only a well-formed code: it names the bundle file and is kept by the redactor.
  const std::string code = values.text("facility.code");
  if (code.size() == 9 && code.find_first_not_of("0123456789") == std::string::npos) config.facility.code = code;
  config.state_dir = text("state_dir", "/var/lib/medgw");
  if (!config.state_dir.is_absolute()) config.state_dir = "/var/lib/medgw";
  config.status.listen = text("status.listen", "127.0.0.1:9750");
  config.log.file = values.text("log.file");
  config.support.recipient = values.text("support.recipient");
  config.central.ca = values.text("central.ca");
  config.central.cert = values.text("central.cert");
  config.policy.optout_file = values.text("policy.optout_file");
  config.policy.notice.register_file = values.text("policy.notice.register");
  config.spool.max_bytes = parse_size(text("spool.max_bytes", "20GiB")).value.value_or(20ULL << 30);
  config.spool.min_free = parse_size(text("spool.min_free", "2GiB")).value.value_or(2ULL << 30);
  return config;
}

// The gateway's tag key when this user can read it; otherwise a key for this
// bundle alone (tags then do not match the log's, and nothing is created).
std::shared_ptr<crypto::PatientTagger> load_tagger(const std::filesystem::path& state_dir) {
  const std::filesystem::path file = state_dir / "patient-tag.key";
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    try {
      return std::make_shared<crypto::PatientTagger>(crypto::PatientTagger::load_or_create(file));
    } catch (const std::exception&) {
    }
  }
  crypto::SecureBytes key(crypto::PatientTagger::key_size);
  crypto::random_bytes(key);
  return std::make_shared<crypto::PatientTagger>(std::move(key));
}

void teach_redactor(Context& context) {
  context.redactor = std::make_unique<Redactor>(context.tagger);
  Redactor& redactor = *context.redactor;
  for (auto& [value, replacement] : marked_values(context.values, *context.tagger)) {
    redactor.add_literal(value, replacement);
  }
  if (!context.config.facility.code.empty()) redactor.keep(context.config.facility.code);
  if (auto db = open_state_for_reading(context.config.state_dir, std::chrono::milliseconds(1500))) {
    try {
      for (const std::string& id : index_patient_ids(*db, context.plan ? &*context.plan : nullptr)) redactor.add_patient_id(id);
      context.ids_source = "the file index of state.db";
    } catch (const base::SqliteError& error) {
      context.ids_source = "none: the file index could not be read; the shape rules still apply";
    }
  } else {
    context.ids_source = "none (" + db.error().code + "); the shape rules still apply";
  }
  // The notice register's patients (they are in the file index too, unless it is unreadable).
  if (!context.config.policy.notice.register_file.empty()) {
    try {
      std::ifstream in(context.config.policy.notice.register_file, std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      const collectors::NoticeRegister notice_register = collectors::NoticeRegister::parse(bytes.str());
      for (const auto& entry : notice_register.entries()) redactor.add_patient_id(entry.patient_id);
    } catch (const std::exception&) {
      // Unreadable or broken: the shape rules still apply.
    }
  }
  if (context.config.policy.optout_file.empty()) {
    context.optout_source = "not configured";
    return;
  }
  try {
    const collectors::OptOutList list = collectors::OptOutList::load(context.config.policy.optout_file);
    for (const collectors::OptOutEntry& entry : list.entries()) {
      redactor.add_patient_id(entry.patient_id);
      redactor.add_patient_id(entry.dpc_id);
    }
    context.optout_source = "read (" + std::to_string(list.size()) + " entries)";
  } catch (const std::exception&) {
    context.optout_source = "could not be read; the shape rules still apply";
  }
}

void add_service_pages(Context& context) {
  const Redactor& redactor = *context.redactor;
  const auto deadline = context.options.doctor.status_deadline;
  bool status_answered = false;
  for (const auto& [path, name] : {std::pair<std::string_view, std::string>{"/healthz", "service/healthz.txt"},
                                   {"/metrics", "service/metrics.txt"},
                                   {"/status", "service/status.json"}}) {
    const LocalPage page = fetch_status_page(context.config.status.listen, path, deadline);
    if (!page.answered) {
      context.left_out.emplace_back(name, "the status server did not answer at " + context.config.status.listen +
                                              " (" + redactor.line(page.error) + ")");
      continue;
    }
    std::string body = path == "/metrics" ? redactor.metrics(page.body)
                       : path == "/status" ? redactor.json(page.body)
                                           : redactor.text(page.body);
    if (path == "/status") status_answered = true;
    context.add(name, page.status == 200 ? body : "HTTP " + std::to_string(page.status) + "\n" + body,
                "what the running service reports (GET " + std::string(path) + "), redacted");
  }
  if (status_answered) return;
  if (!context.loaded.ok()) {
    context.left_out.emplace_back("status-offline.json", "needs a valid configuration");
  } else if (auto db = open_state_for_reading(context.config.state_dir, std::chrono::milliseconds(1500)); !db) {
    context.left_out.emplace_back("status-offline.json", db.error().message);
  } else {
    context.add("status-offline.json", redactor.json(status_json(context.config, context.now)),
                "medgw status --json, read from state.db because the service did not answer; redacted");
  }
}

// Adds the log excerpts; returns what the manifest says about them.
std::string add_logs(Context& context) {
  base::JsonWriter manifest;
  LogLimits limits;
  limits.since = context.now - context.options.since;
  const bool with_file = !context.config.log.file.empty();
  limits.budget = with_file ? context.options.log_budget / 2 : context.options.log_budget;
  const LogExcerpt journal = tail_journal(service_unit, limits, *context.redactor);
  LogExcerpt file;
  if (with_file) {
    limits.budget = context.options.log_budget - journal.text.size();
    file = tail_log_file(context.config.log.file, limits, *context.redactor);
  } else {
    file.status = "not configured (log.file)";
  }
  manifest.begin_object();
  manifest.field("since", base::rfc3339_utc(limits.since)).field("cap_bytes", static_cast<std::uint64_t>(context.options.log_budget));
  for (const auto& [name, excerpt] : {std::pair<std::string, const LogExcerpt*>{"journal", &journal}, {"log_file", &file}}) {
    manifest.key(name).begin_object().field("status", context.redactor->line(excerpt->status));
    manifest.field("lines", excerpt->lines).field("older_lines_left_out", excerpt->cut);
    manifest.field("bytes_read", excerpt->bytes_read).end_object();
  }
  manifest.end_object();
  if (journal.available) {
    context.add("logs/journal.txt", journal.text,
                "journalctl -u medgw for the window, newest kept, every line through the redactor");
  } else {
    context.left_out.emplace_back("logs/journal.txt", journal.status);
  }
  if (file.available) {
    context.add("logs/medgw.log", file.text, "the end of log.file for the window, every line through the redactor");
  } else if (with_file) {
    context.left_out.emplace_back("logs/medgw.log", context.redactor->line(file.status));
  }
  return manifest.take();
}

std::string manifest_json(const Context& context, const std::string& log_facts, const std::string& encryption) {
  base::JsonWriter doc;
  doc.begin_object().field("format", "medgw-diag/1").field("created", base::rfc3339_utc(context.now));
  doc.field("facility", context.config.facility.code).field("medgw", context.options.build.substr(0, context.options.build.find('\n')));
  doc.field("encryption", encryption).field("config_valid", context.loaded.ok());
  doc.key("redaction").begin_object();
  doc.field("patient_ids_known", static_cast<std::uint64_t>(context.redactor->patient_ids()));
  doc.field("patient_ids_from", context.ids_source).field("optout_list", context.optout_source);
  doc.field("rules", "configuration through the key table's sensitivity marks; every other text through the "
                     "redactor (patient IDs, SS-MIX2 path shapes, kana/kanji, non-UTF-8 bytes, digit runs of 6+)");
  doc.end_object();
  doc.key("logs").raw(log_facts);
  doc.key("entries").begin_array();
  doc.begin_object().field("name", "MANIFEST.json").field("why", "this list").end_object();
  for (const BundleEntry& entry : context.entries) {
    doc.begin_object().field("name", entry.name).field("size", static_cast<std::uint64_t>(entry.content.size()));
    doc.field("sha256", content_sha256(entry.content)).field("why", entry.why).end_object();
  }
  doc.end_array();
  doc.key("not_included").begin_array();
  for (const auto& [name, why] : context.left_out) doc.begin_object().field("name", name).field("why", why).end_object();
  doc.end_array();
  doc.end_object();
  return doc.take();
}

std::filesystem::path default_output(const Context& context) {
  const std::time_t t = std::chrono::system_clock::to_time_t(context.now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  const std::string facility = context.config.facility.code.empty() ? "unknown" : context.config.facility.code;
  return "medgw-diag-" + facility + "-" + stamp + (context.options.review ? ".tar.zst" : ".tar.zst.age");
}

}  // namespace

DiagResult run_diag(const DiagOptions& options) {
  Context context{options, std::chrono::system_clock::now(), load_config(options.config_file, config_schema()),
                  read_config_values(options.config_file, config_schema()), {}, {}, {}, {}, {}, {}, {}, {}};
  context.config = context.loaded.ok() ? *context.loaded.config : fallback_config(context.values);
  std::optional<crypto::X25519PublicKey> recipient;
  if (!options.review) {
    recipient = crypto::parse_recipient(context.config.support.recipient);
    if (!recipient) {
      return {2, {},
              "support.recipient is not set (or not an age recipient) in " + options.config_file.string() +
                  ": set it to the support team's recipient (age1...), or run medgw diag --review to write the "
                  "bundle in clear, read it, and pass it on yourself"};
    }
  }
  if (context.loaded.ok()) context.plan.emplace(context.config);
  context.tagger = load_tagger(context.config.state_dir);
  teach_redactor(context);
  const Redactor& redactor = *context.redactor;

  context.add("version.txt", options.build, "medgw's version, build and library versions");
  context.add("system.json", redactor.json(system_json()), "OS release, kernel, package versions");
  const std::vector<Diagnostic> warnings = check_environment(context.loaded);
  context.add("config.json",
              render_config_json(options.config_file, context.values, config_schema(), context.loaded, warnings,
                                 redactor, *context.tagger),
              "the configuration through the key table's sensitivity marks (secrets as <secret>, patient-bearing "
              "paths as keyed tags), its errors and warnings; never the file itself");
  context.add("doctor.json", redactor.json(run_doctor(options.config_file, options.doctor).json()),
              "medgw doctor --json: the checks of this machine and of the path to the central");
  add_service_pages(context);
  context.add("state.json", redactor.json(state_facts_json(context.config, context.plan ? &*context.plan : nullptr, context.now)),
              "state.db's schema version and table counts, the spool's and the index's counts and ages (never rows)");
  context.add("certificates.json",
              redactor.json(certificates_json({{"central.cert", context.config.central.cert}, {"central.ca", context.config.central.ca}},
                                              context.now)),
              "subjects, issuers, validity and fingerprints of central.cert and central.ca (never keys)");
  context.add("systemd.txt", redactor.text(systemd_unit_text()), "the medgw unit's state as systemd sees it");
  const std::string log_facts = add_logs(context);

  std::vector<BundleEntry> entries;
  const std::string encryption = recipient ? "age to support.recipient " + context.config.support.recipient
                                           : "none (--review: in clear for the hospital to read)";
  entries.push_back({"MANIFEST.json", manifest_json(context, log_facts, encryption), "this list"});
  for (BundleEntry& entry : context.entries) entries.push_back(std::move(entry));

  DiagResult result;
  result.file = options.output.empty() ? default_output(context) : options.output;
  try {
    write_bundle_file(result.file, entries, recipient);
  } catch (const std::exception& error) {
    return {1, result.file, std::string("cannot write the bundle: ") + error.what()};
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(result.file, ec);
  result.message = "wrote " + result.file.string() + " (" + std::to_string(size) + " bytes, " +
                   std::to_string(entries.size()) + " files, " + encryption + ")";
  return result;
}

}  // namespace medgw::daemon
