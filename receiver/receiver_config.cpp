#include <receiver/receiver_config.hpp>


#include <algorithm>
#include <charconv>
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
  void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> known, const std::string& where) {
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
  std::uint64_t size(const YAML::Node& node, const std::string& name) {
    const std::string value = text(node, name);
    std::uint64_t number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    const std::string_view unit(end, static_cast<std::size_t>(value.data() + value.size() - end));
    const std::uint64_t scale = unit.empty() || unit == "B" ? 1 : unit == "KiB" ? 1ULL << 10 : unit == "MiB" ? 1ULL << 20
                                : unit == "GiB" ? 1ULL << 30 : unit == "TiB" ? 1ULL << 40 : 0;
    if (ec != std::errc() || end == value.data() || scale == 0) error(node, name + " must be a size like 64GiB");
    return number * scale;
  }
  std::chrono::seconds duration(const YAML::Node& node, const std::string& name) {
    const std::string value = text(node, name);
    long long number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    const std::string_view unit(end, static_cast<std::size_t>(value.data() + value.size() - end));
    const long long scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
    if (ec != std::errc() || end == value.data() || scale == 0 || number <= 0) {
      error(node, name + " must be a duration like 30s, 10m, 24h");
    }
    return std::chrono::seconds(number * scale);
  }
  [[nodiscard]] const std::string& errors() const { return errors_; }
  [[nodiscard]] const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::string errors_;
};

}  // namespace

const FacilityEntry* ReceiverConfig::facility_of_client(std::string_view name) const {
  for (const FacilityEntry& entry : facilities) {
    if (std::find(entry.clients.begin(), entry.clients.end(), name) != entry.clients.end()) return &entry;
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
  reader.check_keys(root, {"listen", "base_path", "tls", "data_dir", "landing", "identity", "receipt_key", "max_upload",
                           "expiration", "idle_timeout", "facilities", "inject_503_every"}, "");
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
    reader.check_keys(tls, {"ca", "cert", "key"}, "tls.");
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
  if (root["max_upload"]) config.max_upload = reader.size(root["max_upload"], "max_upload");
  if (root["expiration"]) config.expiration = reader.duration(root["expiration"], "expiration");
  if (root["inject_503_every"]) config.inject_503_every = reader.size(root["inject_503_every"], "inject_503_every");
  if (root["idle_timeout"]) config.idle_timeout = reader.duration(root["idle_timeout"], "idle_timeout");
  if (const YAML::Node facilities = root["facilities"]; facilities && facilities.IsSequence()) {
    std::set<std::string> codes;
    for (const YAML::Node& item : facilities) {
      if (!item.IsMap()) {
        reader.error(item, "each facility is {code, clients, gateways}");
        continue;
      }
      reader.check_keys(item, {"code", "clients", "gateways"}, "facilities[].");
      FacilityEntry entry;
      if (item["code"]) entry.code = reader.text(item["code"], "code");
      if (entry.code.size() != 9 || !std::all_of(entry.code.begin(), entry.code.end(), ::isdigit)) {
        reader.error(item["code"] ? item["code"] : item, "code must be the 9-digit facility code");
      }
      if (!codes.insert(entry.code).second) reader.error(item, "facility " + entry.code + " is listed twice");
      if (const YAML::Node clients = item["clients"]; clients && clients.IsSequence() && clients.size() > 0) {
        for (const YAML::Node& client : clients) entry.clients.push_back(reader.text(client, "clients[]"));
      } else {
        reader.error(item, "clients must list the client certificate names (CN or DNS SAN) of this facility");
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
  } else {
    reader.error(root, "facilities must list at least one facility");
  }
  if (!reader.errors().empty()) throw ConfigError(reader.errors().substr(0, reader.errors().size() - 1));
  return config;
}

}  // namespace medgw::receiver
