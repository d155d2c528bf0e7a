#include <daemon/config/config_table.hpp>

#include <crypto/age_keys.hpp>

#include <array>
#include <charconv>
#include <ctime>

namespace medgw::daemon {

namespace {

// ---- validators -----------------------------------------------------------

bool is_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string check_facility_code(const ConfigValue& value) {
  const std::string& code = value.text;
  if (code.size() != 9 || !is_digits(code)) {
    return "'" + code +
           "' must be 9 digits: prefecture number (2) + medical institution code (7), e.g. 131234567";
  }
  const int prefecture = (code[0] - '0') * 10 + (code[1] - '0');
  if (prefecture < 1 || prefecture > 47) {
    return "'" + code + "' starts with prefecture number " + code.substr(0, 2) +
           ", which is not 01-47";
  }
  return {};
}

std::string check_source_name(const ConfigValue& value) {
  const std::string& name = value.text;
  bool ok = !name.empty() && name.size() <= 32 && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'));
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) ok = false;
  }
  if (!ok) {
    return "'" + name +
           "' must be 1-32 characters of a-z, 0-9, '-' and '_', starting with a letter or digit";
  }
  return {};
}

// https://host[:port]/path - the tus endpoint. Plain http is refused: patient
// data leaves the hospital only over TLS.
std::string check_central_url(const ConfigValue& value) {
  const std::string& url = value.text;
  if (!url.starts_with("https://")) {
    return "'" + url + "' must start with https:// (uploads are only made over mutual TLS)";
  }
  const std::string_view rest = std::string_view(url).substr(8);
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      url.find_first_of(" \t?#") != std::string::npos) {
    return "'" + url + "' must look like https://collector.example.jp/files/";
  }
  return {};
}

std::string check_proxy(const ConfigValue& value) {
  const std::string& proxy = value.text;
  if (proxy.empty()) return {};
  if (!proxy.starts_with("http://") && !proxy.starts_with("https://")) {
    return "must look like http://proxy.hospital.local:8080 (an HTTP CONNECT proxy)";
  }
  const auto authority_start = proxy.find("//") + 2;
  const std::string_view authority = std::string_view(proxy).substr(authority_start);
  const auto at = authority.rfind('@');
  const std::string_view host_port = at == std::string_view::npos ? authority : authority.substr(at + 1);
  const auto colon = host_port.rfind(':');
  if (host_port.empty() || colon == std::string_view::npos || !is_digits(host_port.substr(colon + 1)) ||
      host_port.find('/') != std::string_view::npos) {
    return "must name host and port, e.g. http://proxy.hospital.local:8080";
  }
  return {};
}

std::string check_recipients(const ConfigValue& value) {
  if (value.list.empty()) {
    return "needs at least one age recipient (age1...) given by the central";
  }
  for (const std::string& recipient : value.list) {
    if (!crypto::parse_recipient(recipient)) {
      return "'" + recipient +
             "' is not an age X25519 recipient (age1... in lower case, 62 characters)";
    }
  }
  return {};
}

std::string check_support_recipient(const ConfigValue& value) {
  if (value.text.empty() || crypto::parse_recipient(value.text)) return {};
  // Pasting the support team's identity here would publish it: never echo it.
  if (value.text.starts_with("AGE-SECRET-KEY-")) {
    return "holds an age identity (a secret key), not a recipient: put the support team's recipient (age1...) here; "
           "the identity must stay with the support team";
  }
  return "'" + value.text + "' is not an age X25519 recipient (age1... in lower case, 62 characters)";
}

std::string check_backup_repository(const ConfigValue& value) {
  const std::string& repository = value.text;
  if (repository.empty()) return {};
  if (repository.starts_with("http://")) {
    return "the central's backup endpoint is reached over mutual TLS only: give https://…/backup/ (or a folder)";
  }
  if (repository.starts_with("https://")) {
    if (repository.size() <= 8 || repository.find_first_of(" ?#") != std::string::npos) {
      return "'" + repository + "' is not a backup endpoint URL, e.g. https://central.example.jp:8443/backup/";
    }
    return {};
  }
  if (repository.front() != '/') return "'" + repository + "' must be an absolute folder path, e.g. /mnt/backup/medgw";
  return {};
}

std::string check_backup_recipients(const ConfigValue& value) {
  for (const std::string& recipient : value.list) {
    if (recipient.starts_with("AGE-SECRET-KEY-")) {
      // Never echo it: the gateway must not hold the recovery identity (write-only backup).
      return "holds an age identity (a secret key), not a recipient: put the recovery key's recipient (age1...) "
             "here and keep the identity off the gateway";
    }
    if (!crypto::parse_recipient(recipient)) {
      return "'" + recipient + "' is not an age X25519 recipient (age1... in lower case, 62 characters)";
    }
  }
  return {};
}

std::string check_backup_schedule(const ConfigValue& value) {
  const std::string& text = value.text;
  if (text.empty()) return {};
  const bool shape = text.size() == 5 && text[2] == ':' && is_digits(std::string_view(text).substr(0, 2)) &&
                     is_digits(std::string_view(text).substr(3, 2));
  if (!shape || std::stoi(text.substr(0, 2)) > 23 || std::stoi(text.substr(3, 2)) > 59) {
    return "'" + text + "' must be a local time HH:MM (e.g. \"02:00\" for a daily backup at 2 am), or empty for none";
  }
  return {};
}

// "67%" (or "67"): 0 = off, at most 95 so that a renewal has time to be retried.
std::optional<int> parse_renew_at(std::string_view text) {
  if (text.ends_with('%')) text.remove_suffix(1);
  if (text.empty() || text.size() > 2 || !is_digits(text)) return std::nullopt;
  const int percent = std::stoi(std::string(text));
  return percent <= 95 ? std::optional<int>(percent) : std::nullopt;
}

std::string check_renew_at(const ConfigValue& value) {
  if (parse_renew_at(value.text)) return {};
  return "'" + value.text + "' must be a percentage of the certificate's lifetime from 0% (never renew) to 95%, e.g. 67%";
}

std::string check_pins(const ConfigValue& value) {
  for (const std::string& pin : value.list) {
    constexpr std::string_view prefix = "sha256//";
    // base64 of a SHA-256 digest: 43 characters + one '='.
    if (!pin.starts_with(prefix) || pin.size() != prefix.size() + 44 || pin.back() != '=') {
      return "'" + pin +
             "' must be sha256//<base64 of the SPKI SHA-256> (see docs/operations.md for the openssl "
             "command that prints it)";
    }
    for (char c : std::string_view(pin).substr(prefix.size(), 43)) {
      const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
      if (!base64) return "'" + pin + "' has a character that is not base64";
    }
  }
  return {};
}

std::string check_chunk(const ConfigValue& value) {
  if (value.size < (64ULL << 10) || value.size > (1ULL << 30)) {
    return "must be between 64KiB and 1GiB";
  }
  return {};
}

std::string check_max_bytes(const ConfigValue& value) {
  if (value.size < (64ULL << 20)) return "must be at least 64MiB";
  return {};
}

std::string check_scan_interval(const ConfigValue& value) {
  if (value.duration < std::chrono::seconds(10)) return "must be at least 10s";
  return {};
}

bool valid_date(int year, int month, int day) {
  if (year < 1900 || year > 2999 || month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int limit = days[static_cast<std::size_t>(month - 1)] + ((month == 2 && leap) ? 1 : 0);
  return day <= limit;
}

std::string check_since(const ConfigValue& value) {
  const std::string& since = value.text;
  if (since.empty()) return {};
  const std::string hint = "'" + since +
                           "' must be a date YYYY-MM-DD (e.g. 2023-04-01) or a number of years back "
                           "such as 3y";
  if (since.back() == 'y') {
    const std::string_view digits = std::string_view(since).substr(0, since.size() - 1);
    int years = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), years);
    if (error != std::errc() || end != digits.data() + digits.size() || years < 1 || years > 100) return hint;
    return {};
  }
  if (since.size() != 10 || since[4] != '-' || since[7] != '-' || !is_digits(since.substr(0, 4)) ||
      !is_digits(since.substr(5, 2)) || !is_digits(since.substr(8, 2))) {
    return hint;
  }
  if (!valid_date(std::stoi(since.substr(0, 4)), std::stoi(since.substr(5, 2)), std::stoi(since.substr(8, 2)))) {
    return "'" + since + "' is not a calendar date";
  }
  return {};
}

std::string check_notice_start(const ConfigValue& value) {
  if (value.text.empty()) return {};
  if (value.text.back() == 'y') return "'" + value.text + "' must be a date YYYY-MM-DD: the day the notice began";
  return check_since(value);
}

std::string check_notice_wait(const ConfigValue& value) {
  const auto days = std::chrono::duration_cast<std::chrono::days>(value.duration);
  if (days < std::chrono::days(1) || days > std::chrono::days(366) || value.duration != days) {
    return "must be whole days between 1d and 366d (e.g. 30d, the period published in the notice)";
  }
  return {};
}

std::string check_listen(const ConfigValue& value) {
  const std::string& listen = value.text;
  const std::string hint = "'" + listen +
                           "' must be IP:port, e.g. 127.0.0.1:9750 or [::1]:9750";
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return hint;
  const std::string_view port_text = std::string_view(listen).substr(colon + 1);
  int port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return hint;
  }
  std::string_view host = std::string_view(listen).substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 4) return hint;
    host = host.substr(1, host.size() - 2);
    for (char c : host) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) return hint;
    }
    return {};
  }
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return hint;
  }
  return dots == 3 ? std::string() : hint;
}

// ---- the table ------------------------------------------------------------

constexpr std::array<std::string_view, 2> unidentified_choices{"hold", "send"};
constexpr std::array<std::string_view, 2> tls_versions{"1.3", "1.2"};
constexpr std::array<std::string_view, 4> log_levels{"debug", "info", "warn", "error"};

// The rows in the order of docs/config.md, in two parts (each function stays short).
std::vector<KeySpec> gateway_rows() {
  using V = ValueKind;
  return {
      {"facility.code", V::text, "string", true, "",
       "9-digit facility code: prefecture number (2) + medical institution code (7).", {},
       check_facility_code, [](Config& c, SourceConfig*, const ConfigValue& v) { c.facility.code = v.text; }},
      {"facility.name", V::text, "string", false, "",
       "Facility name, shown in status and diagnostics only.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.facility.name = v.text; }},
      {"state_dir", V::path, "path", false, "/var/lib/medgw",
       "Folder for state.db, the spool of encrypted objects and temporary files; on a local disk.", {},
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.state_dir = v.text; }},

      {"sources[].name", V::text, "string", true, "",
       "Short unique name of the source (a-z, 0-9, '-', '_'); used in manifests and status.", {},
       check_source_name, [](Config&, SourceConfig* s, const ConfigValue& v) { s->name = v.text; }},
      {"sources[].type", V::text, "string", true, "",
       "What the source is: one of the source types below (each with its own keys).", {}, nullptr,
       [](Config&, SourceConfig* s, const ConfigValue& v) { s->type = v.text; }},
      {"sources[].scan_interval", V::duration, "duration", false, "",
       "Time between full scans of the source (at least 10s); the default depends on the type.", {},
       check_scan_interval, [](Config&, SourceConfig* s, const ConfigValue& v) { s->scan_interval = v.duration; }},
      {"sources[].settle", V::duration, "duration", false, "",
       "A file is collected only once it is this old and unchanged between two looks; the default depends on the "
       "type.", {},
       nullptr, [](Config&, SourceConfig* s, const ConfigValue& v) { s->settle = v.duration; }},

      {"central.url", V::text, "URL", true, "",
       "The central collector's tus endpoint, https only.", {}, check_central_url,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.url = v.text; }},
      {"central.ca", V::path, "path", true, "",
       "PEM file of the private CA that signed the central's certificate; system CAs are not trusted.", {},
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.ca = v.text; }},
      {"central.cert", V::path, "path", true, "",
       "PEM file of this gateway's client certificate (with any intermediates).", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.cert = v.text; }},
      {"central.key", V::path, "path", true, "",
       "PEM file of the client certificate's private key; must not be readable by group or other.", {},
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.key = v.text; }},
      {"central.pin", V::list, "list", false, "[]",
       "Optional SPKI pins of the central's certificate, each sha256//<base64>.", {}, check_pins,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.pins = v.list; }},
      {"central.proxy", V::text, "URL", false, "",
       "Optional HTTP CONNECT proxy, http://host:port (user:password@ allowed).", {}, check_proxy,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.proxy = v.text; }, Sensitivity::secret},
      {"central.recipients", V::list, "list", true, "",
       "age recipients (age1...) who can decrypt uploads: the central and any escrow key.", {},
       check_recipients, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.recipients = v.list; }},
      {"central.bandwidth", V::size, "size", false, "0",
       "Upload cap in bytes per second across all transfers (e.g. 2MiB); 0 = no cap.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.bandwidth = v.size; }},
      {"central.window", V::window, "window", false, "",
       "Local-time window for uploads, e.g. 19:00-07:00; empty = any time.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.window = v.window; }},
      {"central.chunk", V::size, "size", false, "16MiB",
       "Size of each tus PATCH; after a cut at most this much is sent again (64KiB-1GiB).", {},
       check_chunk, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.chunk = v.size; }},
      {"central.tls_min", V::choice, "choice", false, "1.3",
       "Lowest TLS version accepted from the central: 1.3, or 1.2 for an older central.", tls_versions,
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.tls_min = v.text; }},
      {"central.key_password_file", V::path, "path", false, "",
       "File holding the passphrase of an encrypted central.key (mode 0600); empty = the key is not encrypted.",
       {}, nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.key_password_file = v.text; }},
      {"central.receipt_key", V::path, "path", false, "",
       "File with the central's receipt-signing public key (ed25519:...); receipts that fail it raise an alarm.",
       {}, nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.receipt_key = v.text; }},
      {"central.crl", V::path, "path", false, "",
       "Optional PEM file of the CRLs of the central's CAs (every certificate of its chain is checked); re-read when "
       "it changes.",
       {}, nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.crl = v.text; }},
      {"central.renew_at", V::text, "percent", false, "67%",
       "`medgw run` renews central.cert (EST simplereenroll) once this share of its lifetime has passed; 0% = never.",
       {}, check_renew_at,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.central.renew_at_percent = parse_renew_at(v.text).value_or(67); }},

      {"spool.max_bytes", V::size, "size", false, "20GiB",
       "Most bytes the spool may hold; when reached, collection pauses (nothing is dropped). A single file "
       "larger than this is still collected, alone in an empty spool.", {},
       check_max_bytes, [](Config& c, SourceConfig*, const ConfigValue& v) { c.spool.max_bytes = v.size; }},
      {"spool.min_free", V::size, "size", false, "2GiB",
       "Free space to leave on the state_dir filesystem; below it, collection pauses.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.spool.min_free = v.size; }},

      {"policy.since", V::text, "date", false, "",
       "Collection window start: a date YYYY-MM-DD or years back (3y); older data is skipped.", {},
       check_since, [](Config& c, SourceConfig*, const ConfigValue& v) { c.policy.since = v.text; }},
      {"policy.optout_file", V::path, "path", false, "",
       "CSV of patients who refused provision (patient_id,dpc_id,kana_name,birth_date,requested_on).", {},
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.policy.optout_file = v.text; },
       Sensitivity::phi_path},
      {"policy.unidentified", V::choice, "choice", false, "hold",
       "A receipt whose patient cannot be identified while opt-outs exist: hold the file back, or send.",
       unidentified_choices, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) {
         c.policy.unidentified = v.text == "send" ? UnidentifiedPolicy::send : UnidentifiedPolicy::hold;
       }},

      {"policy.notice.start", V::text, "date", false, "",
       "Day the notice (本人通知) began, YYYY-MM-DD; a patient's data goes only once `wait` has passed since their "
       "first encounter on or after it (or since notified_on in the register); empty = no notice period.", {},
       check_notice_start, [](Config& c, SourceConfig*, const ConfigValue& v) { c.policy.notice.start = v.text; }},
      {"policy.notice.wait", V::duration, "duration", false, "30d",
       "Notice period: days between a patient's first encounter (or notice by other means) and provision.", {},
       check_notice_wait, [](Config& c, SourceConfig*, const ConfigValue& v) { c.policy.notice.wait = v.duration; }},
      {"policy.notice.register", V::path, "path", false, "",
       "CSV of patients notified another way, e.g. by mail (patient_id,notified_on); empty = none.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.policy.notice.register_file = v.text; },
       Sensitivity::phi_path},
  };
}

std::vector<KeySpec> service_rows() {
  using V = ValueKind;
  return {
      {"backup.repository", V::text, "folder", false, "",
       "Folder of the hospital's backup repository (e.g. a NAS mount), or https://…/backup/: the central's "
       "write-once backup endpoint, reached with central's certificate, CA and bandwidth; written once, never "
       "overwritten or deleted by medgw; empty = no backup.",
       {}, check_backup_repository,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.backup.repository = v.text; }},
      {"backup.recipients", V::list, "list", false, "[]",
       "age recipients (age1...) the backup is encrypted to: the hospital's recovery key and any escrow key. "
       "Their identities must not be on the gateway.",
       {}, check_backup_recipients,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.backup.recipients = v.list; }},
      {"backup.schedule", V::text, "HH:MM", false, "",
       "Local time of the daily backup inside `medgw run` (e.g. \"02:00\"); empty = only `medgw backup run`.",
       {}, check_backup_schedule,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.backup.schedule = v.text; }},

      {"support.recipient", V::text, "age recipient", false, "",
       "age recipient (age1...) of the support team: `medgw diag` encrypts its bundles to it; empty = only "
       "`medgw diag --review` (in clear, for the hospital to read and pass on).",
       {}, check_support_recipient,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.support.recipient = v.text; }},

      {"status.listen", V::text, "IP:port", false, "127.0.0.1:9750",
       "Address of the status server (/healthz, /metrics, /status); it has no authentication, keep it on loopback. "
       "Port 0 picks a free port (logged at start-up).",
       {}, check_listen, [](Config& c, SourceConfig*, const ConfigValue& v) { c.status.listen = v.text; }},

      {"log.level", V::choice, "choice", false, "info", "Least severe level that is logged.", log_levels,
       nullptr, [](Config& c, SourceConfig*, const ConfigValue& v) { c.log.level = v.text; }},
      {"log.file", V::path, "path", false, "",
       "Also append the log to this file (with timestamps); empty = stderr/journal only.", {}, nullptr,
       [](Config& c, SourceConfig*, const ConfigValue& v) { c.log.file = v.text; }},
  };
}

const std::vector<KeySpec>& table() {
  static const std::vector<KeySpec> rows = [] {
    std::vector<KeySpec> all = gateway_rows();
    for (const KeySpec& row : service_rows()) all.push_back(row);
    return all;
  }();
  return rows;
}

std::string escape_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else out.push_back(c);
  }
  return out;
}

}  // namespace


std::span<const KeySpec> config_table() { return table(); }

std::string_view sensitivity_name(Sensitivity sensitivity) {
  switch (sensitivity) {
    case Sensitivity::plain: return "plain";
    case Sensitivity::secret: return "secret";
    case Sensitivity::phi_path: return "phi_path";
  }
  return "plain";
}

const SourceTypeSpec* ConfigSchema::find_type(std::string_view name) const {
  for (const SourceTypeSpec* type : source_types) {
    if (type->name == name) return type;
  }
  return nullptr;
}

std::string ConfigSchema::type_names() const {
  std::string names;
  for (const SourceTypeSpec* type : source_types) names += (names.empty() ? "" : ", ") + std::string(type->name);
  return names;
}

const KeySpec* find_type_key(const SourceTypeSpec& type, std::string_view key) {
  for (const KeySpec& spec : type.keys) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

namespace {

std::string type_cell(const KeySpec& spec) {
  if (spec.choices.empty()) return std::string(spec.type_label);
  std::string type;
  for (std::string_view choice : spec.choices) {
    if (!type.empty()) type += " \\| ";
    type += "`" + std::string(choice) + "`";
  }
  return type;
}

std::string default_cell(const KeySpec& spec) {
  if (spec.required) return "**required**";
  if (spec.default_text.empty()) return "`\"\"`";
  return "`" + std::string(spec.default_text) + "`";
}

std::string row(std::string_view key, const KeySpec& spec, const std::string& default_text) {
  return "| `" + std::string(key) + "` | " + type_cell(spec) + " | " + default_text + " | " + escape_cell(spec.doc) +
         " |\n";
}

constexpr std::string_view table_head = "| key | type | default | description |\n|---|---|---|---|\n";

std::string source_type_sections(const ConfigSchema& schema) {
  std::string out;
  for (const SourceTypeSpec* type : schema.source_types) {
    out += "\n### sources of type `" + std::string(type->name) + "`\n\n" + std::string(type->description) + "\n\n";
    if (type->keys.empty()) {
      out += "No keys of its own.\n";
      continue;
    }
    out += table_head;
    for (const KeySpec& own : type->keys) out += row("sources[]." + std::string(own.key), own, default_cell(own));
  }
  return out;
}

}  // namespace

std::string config_reference_markdown(const ConfigSchema& schema) {
  std::string out =
      "# medgw.yaml reference\n\n"
      "<!-- Generated by `medgw check-config --reference` from daemon/config/config_table.cpp and the source types "
      "of daemon/runtime/source_registry.cpp; do not edit. scripts/gen-docs rewrites it and a test fails when it is "
      "stale. -->\n\n"
      "The gateway reads `/etc/medgw/medgw.yaml` (or the file given with `-c`). Unknown keys are errors. "
      "`medgw check-config` lists every problem as `FILE:LINE:COL: message`.\n\n"
      "Value syntax:\n\n"
      "- **size**: whole bytes with an optional unit: `B`, `KiB`, `MiB`, `GiB`, `TiB` (binary) or "
      "`KB`, `MB`, `GB`, `TB` (decimal), e.g. `16MiB`.\n"
      "- **duration**: a number with a unit `ms`, `s`, `m`, `h`, `d`, or a sum such as `1h30m`.\n"
      "- **window**: local times `HH:MM-HH:MM`, may wrap past midnight (`19:00-07:00`); empty = always.\n"
      "- **path**: an absolute path.\n\n";
  std::string section;
  for (const KeySpec& spec : schema.keys) {
    const std::string_view key = spec.key;
    std::string_view top = key.substr(0, key.find_first_of(".["));
    if (key.find('.') == std::string_view::npos) top = "general";
    if (top != section) {
      if (section == "sources") out += source_type_sections(schema);
      section = std::string(top);
      if (section == "sources") {
        out += "\n## sources\n\nA list; each item is one source. Every item has these keys, and those of its type "
               "(below):\n\n";
      } else {
        out += "\n## " + section + "\n\n";
      }
      out += table_head;
    }
    std::string default_text = default_cell(spec);
    if (key == "sources[].scan_interval" || key == "sources[].settle") {
      default_text.clear();
      for (const SourceTypeSpec* type : schema.source_types) {
        const std::string_view value = key == "sources[].settle" ? type->settle : type->scan_interval;
        default_text += (default_text.empty() ? "" : ", ") + ("`" + std::string(value) + "` (" + std::string(type->name) + ")");
      }
    }
    out += row(key, spec, default_text);
  }
  if (section == "sources") out += source_type_sections(schema);
  return out;
}

}  // namespace medgw::daemon
