#include <receiver/receiver_config.hpp>

#include <receiver/identifiers.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <set>

#include <yaml-cpp/yaml.h>

namespace medgw::receiver {
namespace {

class Reader {
 public:
  explicit Reader(std::filesystem::path file) : file_(std::move(file)) {}

  void error(const YAML::Node& node, const std::string& message) {
    const YAML::Mark mark = node.Mark();
    errors_ += file_.string() + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " +
               message + "\n";
  }
  template <class Known>
  void check_keys(const YAML::Node& map, const Known& known, const std::string& where) {
    for (const auto& item : map) {
      const std::string key = item.first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        error(item.first, "unknown key " + where + key);
      }
    }
  }
  std::string text(const YAML::Node& node, const std::string& name) {
    if (!node.IsScalar()) {
      error(node, name + " must be a text");
      return {};
    }
    return node.as<std::string>();
  }
  // A count or size: digits and an optional binary unit; anything that does
  // not fit SQLite's signed 64 bits is an error, never a silent wrap.
  std::uint64_t size(const YAML::Node& node, const std::string& name, bool units = true) {
    const std::string value = text(node, name);
    std::uint64_t number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    const std::string_view unit(end, static_cast<std::size_t>(value.data() + value.size() - end));
    const std::uint64_t scale = unit.empty() ? 1 : !units ? 0 : unit == "B" ? 1 : unit == "KiB" ? 1ULL << 10
                                : unit == "MiB" ? 1ULL << 20 : unit == "GiB" ? 1ULL << 30 : unit == "TiB" ? 1ULL << 40 : 0;
    if (end == value.data() || scale == 0 || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      error(node, name + (units ? " must be a size like 64GiB" : " must be a whole number"));
      return 0;
    }
    if (ec == std::errc::result_out_of_range || number > max_sql_integer / scale) {
      error(node, name + " is too large: " + value + " does not fit in 63 bits (at most 8388607TiB)");
      return 0;
    }
    return number * scale;
  }
  std::chrono::seconds duration(const YAML::Node& node, const std::string& name) {
    const std::string value = text(node, name);
    long long number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    const std::string_view unit(end, static_cast<std::size_t>(value.data() + value.size() - end));
    const long long scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
    // At most ~100 years: a deadline must still fit the clocks' 64 bits in nanoseconds.
    if (ec != std::errc() || end == value.data() || scale == 0 || number <= 0 || number > 3'153'600'000LL / scale) {
      error(node, name + " must be a duration like 30s, 10m, 24h (at most 100 years)");
      return std::chrono::seconds(1);
    }
    return std::chrono::seconds(number * scale);
  }
  [[nodiscard]] const std::string& errors() const { return errors_; }

 private:
  std::filesystem::path file_;
  std::string errors_;
};

// The scalar limits and timeouts: one row a key (name, reader, where it goes).
// docs/operations.md lists the same keys with their defaults.
enum class Kind { size, count, duration };
struct ScalarKey {
  std::string_view name;
  Kind kind;
  std::function<void(ReceiverConfig&, std::uint64_t)> set_number;
  std::function<void(ReceiverConfig&, std::chrono::seconds)> set_duration;
};

const std::vector<ScalarKey>& scalar_keys() {
  using C = ReceiverConfig;
  static const std::vector<ScalarKey> keys = {
      {"max_upload", Kind::size, [](C& c, std::uint64_t v) { c.max_upload = v; }, {}},
      {"expiration", Kind::duration, {}, [](C& c, std::chrono::seconds v) { c.expiration = v; }},
      {"idle_timeout", Kind::duration, {}, [](C& c, std::chrono::seconds v) { c.idle_timeout = v; }},
      {"handshake_timeout", Kind::duration, {}, [](C& c, std::chrono::seconds v) { c.handshake_timeout = v; }},
      {"max_connections", Kind::count, [](C& c, std::uint64_t v) { c.max_connections = v; }, {}},
      {"max_handshakes", Kind::count, [](C& c, std::uint64_t v) { c.max_handshakes = v; }, {}},
      {"max_connections_per_facility", Kind::count, [](C& c, std::uint64_t v) { c.max_connections_per_facility = v; }, {}},
      {"max_open_uploads_per_facility", Kind::count, [](C& c, std::uint64_t v) { c.max_open_uploads_per_facility = v; }, {}},
      {"max_inflight_bytes_per_facility", Kind::size,
       [](C& c, std::uint64_t v) { c.max_inflight_bytes_per_facility = v; }, {}},
      {"min_free", Kind::size, [](C& c, std::uint64_t v) { c.min_free = v; }, {}},
      {"landing_max_ratio", Kind::count, [](C& c, std::uint64_t v) { c.landing_max_ratio = v; }, {}},
      {"landing_max_member_size", Kind::size, [](C& c, std::uint64_t v) { c.landing_max_member_size = v; }, {}},
      {"inject_503_every", Kind::count, [](C& c, std::uint64_t v) { c.inject_503_every = v; }, {}},
  };
  return keys;
}

void read_scalars(Reader& reader, const YAML::Node& root, ReceiverConfig& config) {
  for (const ScalarKey& key : scalar_keys()) {
    const YAML::Node node = root[std::string(key.name)];
    if (!node) continue;
    const std::string name(key.name);
    if (key.kind == Kind::duration) {
      key.set_duration(config, reader.duration(node, name));
      continue;
    }
    const std::uint64_t value = reader.size(node, name, key.kind == Kind::size);
    if (value == 0 && key.name != "inject_503_every" && key.name != "min_free") {
      reader.error(node, name + " must be at least 1");
    }
    key.set_number(config, value);
  }
  if (config.max_inflight_bytes_per_facility < config.max_upload) {
    reader.error(root["max_inflight_bytes_per_facility"] ? root["max_inflight_bytes_per_facility"] : root,
                 "max_inflight_bytes_per_facility must be at least max_upload (one object must fit)");
  }
}

void read_facilities(Reader& reader, const YAML::Node& root, ReceiverConfig& config) {
  const YAML::Node facilities = root["facilities"];
  if (!facilities || !facilities.IsSequence()) {
    reader.error(root, "facilities must list at least one facility");
    return;
  }
  std::set<std::string> codes;
  for (const YAML::Node& item : facilities) {
    if (!item.IsMap()) {
      reader.error(item, "each facility is {code, clients, gateways}");
      continue;
    }
    reader.check_keys(item, std::initializer_list<std::string_view>{"code", "clients", "gateways"}, "facilities[].");
    FacilityEntry entry;
    if (item["code"]) entry.code = reader.text(item["code"], "code");
    if (!is_facility_code(entry.code)) {
      reader.error(item["code"] ? item["code"] : item, "code must be the 9-digit facility code");
    }
    if (!codes.insert(entry.code).second) reader.error(item, "facility " + entry.code + " is listed twice");
    if (const YAML::Node clients = item["clients"]; clients && clients.IsSequence() && clients.size() > 0) {
      for (const YAML::Node& client : clients) entry.clients.push_back(reader.text(client, "clients[]"));
    } else if (!config.enrollment.enabled() || clients) {
      reader.error(item, "clients must list the client certificate names (CN or DNS SAN) of this facility "
                         "(with ca: set it may be left out: enrolled certificates are named CN=<code>)");
    }
    if (const YAML::Node gateways = item["gateways"]; gateways && gateways.IsSequence() && gateways.size() > 0) {
      for (const YAML::Node& gateway : gateways) {
        const auto key = crypto::parse_public_key_text(reader.text(gateway, "gateways[]"));
        if (!key) {
          reader.error(gateway, "a gateway key is ed25519:<base64> (medgw prints it: medgw status --json)");
        } else {
          entry.gateway_keys.push_back(*key);
        }
      }
    } else {
      reader.error(item, "gateways must list the Ed25519 keys (ed25519:...) of the facility's gateways");
    }
    config.facilities.push_back(std::move(entry));
  }
}

template <class Path>
void read_enrollment(Reader& reader, const YAML::Node& ca, const Path& path, ReceiverConfig& config) {
  if (!ca.IsMap()) {
    reader.error(ca, "ca is {cert, key | command, validity, grace, ticket_validity}: the enrollment service's issuing CA");
    return;
  }
  reader.check_keys(ca, std::initializer_list<std::string_view>{"cert", "key", "command", "validity", "grace",
                                                                 "ticket_validity"}, "ca.");
  EnrollmentConfig& out = config.enrollment;
  if (ca["cert"]) out.cert = path(ca["cert"], "ca.cert");
  else reader.error(ca, "ca.cert is required: the issuing CA's certificate (PEM)");
  if (ca["key"]) out.key = path(ca["key"], "ca.key");
  if (ca["command"]) out.command = reader.text(ca["command"], "ca.command");
  if (out.key.empty() == out.command.empty()) {
    reader.error(ca, "ca needs exactly one of key (the issuing CA's private key) and command (an external signer)");
  }
  if (ca["validity"]) out.validity = reader.duration(ca["validity"], "ca.validity");
  if (ca["grace"]) out.grace = reader.duration(ca["grace"], "ca.grace");
  if (ca["ticket_validity"]) out.ticket_validity = reader.duration(ca["ticket_validity"], "ca.ticket_validity");
}

}  // namespace

const FacilityEntry* ReceiverConfig::facility_of_client(std::string_view name) const {
  for (const FacilityEntry& entry : facilities) {
    if (std::find(entry.clients.begin(), entry.clients.end(), name) != entry.clients.end()) return &entry;
    // Certificates the enrollment service issues are named CN=<code>.
    if (enrollment.enabled() && entry.code == name) return &entry;
  }
  return nullptr;
}

const FacilityEntry* ReceiverConfig::facility(std::string_view code) const {
  for (const FacilityEntry& entry : facilities) {
    if (entry.code == code) return &entry;
  }
  return nullptr;
}

ReceiverConfig load_receiver_config(const std::filesystem::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw ConfigError(file.string() + ": cannot read the file");
  } catch (const YAML::ParserException& error) {
    throw ConfigError(file.string() + ":" + std::to_string(error.mark.line + 1) + ":" +
                      std::to_string(error.mark.column + 1) + ": " + error.msg);
  }
  Reader reader(file);
  ReceiverConfig config;
  if (!root.IsMap()) throw ConfigError(file.string() + ":1:1: the file must be a mapping of keys");
  std::vector<std::string_view> known = {"listen", "base_path", "tls", "data_dir", "landing", "identity", "receipt_key",
                                         "facilities", "backup", "ca"};
  for (const ScalarKey& key : scalar_keys()) known.push_back(key.name);
  reader.check_keys(root, known, "");
  const std::filesystem::path base = file.parent_path();
  auto path = [&](const YAML::Node& node, const std::string& name) {
    std::filesystem::path value = reader.text(node, name);
    return value.is_relative() ? base / value : value;
  };
  if (root["listen"]) config.listen = reader.text(root["listen"], "listen");
  if (root["base_path"]) config.base_path = reader.text(root["base_path"], "base_path");
  if (!config.base_path.starts_with('/') || !config.base_path.ends_with('/')) {
    reader.error(root["base_path"], "base_path must start and end with '/'");
  }
  if (const YAML::Node tls = root["tls"]; tls && tls.IsMap()) {
    reader.check_keys(tls, std::initializer_list<std::string_view>{"ca", "cert", "key"}, "tls.");
    for (const char* key : {"ca", "cert", "key"}) {
      if (!tls[key]) reader.error(tls, std::string("tls.") + key + " is required");
    }
    if (tls["ca"]) config.ca = path(tls["ca"], "tls.ca");
    if (tls["cert"]) config.cert = path(tls["cert"], "tls.cert");
    if (tls["key"]) config.key = path(tls["key"], "tls.key");
  } else {
    reader.error(root, "tls {ca, cert, key} is required: the receiver only speaks mutual TLS");
  }
  if (root["data_dir"]) {
    config.data_dir = path(root["data_dir"], "data_dir");
  } else {
    reader.error(root, "data_dir is required (receiver.db, uploads and the object store go there)");
  }
  if (root["landing"]) config.landing = path(root["landing"], "landing");
  if (root["identity"]) config.identity = path(root["identity"], "identity");
  if (!config.landing.empty() && config.identity.empty()) {
    reader.error(root["landing"], "landing needs identity (the age key that decrypts the objects)");
  }
  config.receipt_key = root["receipt_key"] ? path(root["receipt_key"], "receipt_key") : config.data_dir / "receipt.key";
  if (const YAML::Node backup = root["backup"]; backup && backup.IsMap()) {
    reader.check_keys(backup, std::initializer_list<std::string_view>{"dir", "path", "quota"}, "backup.");
    if (backup["dir"]) config.backup_dir = path(backup["dir"], "backup.dir");
    else reader.error(backup, "backup.dir is required: the folder that holds the facilities' backup repositories");
    if (backup["path"]) config.backup_path = reader.text(backup["path"], "backup.path");
    if (!config.backup_path.starts_with('/') || !config.backup_path.ends_with('/') ||
        config.backup_path.starts_with(config.base_path) || config.base_path.starts_with(config.backup_path)) {
      reader.error(backup["path"] ? backup["path"] : backup,
                   "backup.path must start and end with '/' and not overlap base_path (e.g. /backup/)");
    }
    if (backup["quota"]) {
      config.backup_quota = reader.size(backup["quota"], "backup.quota");
      if (config.backup_quota == 0) reader.error(backup["quota"], "backup.quota must be at least 1");
    }
  } else if (root["backup"]) {
    reader.error(root["backup"], "backup is {dir, path, quota}");
  }
  if (root["ca"]) read_enrollment(reader, root["ca"], path, config);
  read_scalars(reader, root, config);
  read_facilities(reader, root, config);
  if (!reader.errors().empty()) throw ConfigError(reader.errors().substr(0, reader.errors().size() - 1));
  return config;
}

}  // namespace medgw::receiver
