#include <daemon/config/config_loader.hpp>

#include <daemon/config/config_table.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace medgw::daemon {
namespace {

Position position_of(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return Position{};
  return Position{mark.line + 1, mark.column + 1};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "'" + node.Scalar() + "'";
  }
}

class Loader {
 public:
  Loader(std::filesystem::path file, const ConfigSchema& schema) : file_(std::move(file)), schema_(schema) {}

  LoadResult run(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& error) {
      add_error(position_of(error.mark), "YAML syntax error: " + error.msg);
      return finish();
    }
    if (root.IsNull()) {
      root = YAML::Node(YAML::NodeType::Map);
    } else if (!root.IsMap()) {
      add_error(position_of(root.Mark()), "the file must be a map of keys (facility:, sources:, central:, ...)");
      return finish();
    }
    std::set<std::string> seen;
    walk_map(root, "", "", nullptr, seen);
    apply_missing(seen, "", Position{1, 1}, nullptr, {});
    if (!seen.contains(std::string(source_list_key))) {
      add_error(Position{1, 1}, "missing required key 'sources' (list the folders to watch; see docs/config.md)");
    }
    cross_checks();
    return finish();
  }

  LoadResult fail_unreadable(const std::string& reason) {
    add_error(Position{1, 1}, reason);
    return finish();
  }

 private:
  void add_error(Position at, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::error, file_, at.line, at.column, std::move(message)});
  }
  void add_warning(Position at, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::warning, file_, at.line, at.column, std::move(message)});
  }

  // The row of `key`: the main table's, or for a key of a sources[] item
  // that is not common to all sources, the item's type's. Without a usable
  // type, any type's row of that name (its value is still checked).
  const KeySpec* find_spec(std::string_view key) const {
    for (const KeySpec& spec : schema_.keys) {
      if (spec.key == key) return &spec;
    }
    if (!key.starts_with(source_item_prefix)) return nullptr;
    const std::string_view own = key.substr(source_item_prefix.size());
    if (current_type_ != nullptr) return find_type_key(*current_type_, own);
    for (const SourceTypeSpec* type : schema_.source_types) {
      if (const KeySpec* spec = find_type_key(*type, own)) return spec;
    }
    return nullptr;
  }

  bool is_section(std::string_view key) const {
    const std::string prefix = std::string(key) + ".";
    return std::any_of(schema_.keys.begin(), schema_.keys.end(),
                       [&](const KeySpec& spec) { return spec.key.starts_with(prefix); });
  }

  // Keys that may appear directly under `prefix`, for "did you mean".
  std::vector<std::string> children_of(std::string_view prefix) const {
    std::set<std::string> names;
    for (const KeySpec& spec : schema_.keys) {
      std::string_view key = spec.key;
      if (!prefix.empty()) {
        if (!key.starts_with(std::string(prefix) + ".")) continue;
        key.remove_prefix(prefix.size() + 1);
      }
      names.insert(std::string(key.substr(0, key.find_first_of(".["))));
    }
    if (prefix == "sources[]" && current_type_ != nullptr) {
      for (const KeySpec& spec : current_type_->keys) names.insert(std::string(spec.key));
    }
    return {names.begin(), names.end()};
  }

  std::string suggestion(std::string_view name, std::string_view prefix) const {
    std::string best;
    std::size_t best_distance = 3;
    for (const std::string& candidate : children_of(prefix)) {
      const std::size_t distance = edit_distance(name, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (best.empty()) {
      std::string all;
      for (const std::string& candidate : children_of(prefix)) all += (all.empty() ? "" : ", ") + candidate;
      return " (allowed here: " + all + ")";
    }
    return " (did you mean '" + best + "'?)";
  }

  void walk_map(const YAML::Node& map, const std::string& prefix, const std::string& display_prefix,
                SourceConfig* source, std::set<std::string>& seen) {
    std::map<std::string, int> first_line;
    for (const auto& entry : map) {
      const YAML::Node& key_node = entry.first;
      const YAML::Node& value = entry.second;
      const Position key_at = position_of(key_node.Mark());
      if (!key_node.IsScalar()) {
        add_error(key_at, "keys must be plain names");
        continue;
      }
      const std::string name = key_node.Scalar();
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      const std::string display = display_prefix.empty() ? name : display_prefix + "." + name;
      if (auto [it, inserted] = first_line.emplace(name, key_at.line); !inserted) {
        add_error(key_at, "duplicate key '" + display + "' (first given on line " + std::to_string(it->second) + ")");
        continue;
      }
      Position value_at = position_of(value.Mark());
      if (value.IsNull()) value_at = key_at;
      if (const KeySpec* spec = find_spec(full)) {
        seen.insert(full);
        positions_[display] = value_at;
        read_value(*spec, value, value_at, display, source);
      } else if (prefix.empty() && name == source_list_key) {
        seen.insert(full);
        positions_[display] = value_at;
        walk_sources(value, value_at);
      } else if (is_section(full)) {
        seen.insert(full);
        positions_[display] = key_at;
        if (value.IsMap()) {
          walk_map(value, full, display, source, seen);
        } else if (!value.IsNull()) {
          add_error(value_at, "'" + display + "' must be a map of keys, found " + node_kind(value));
        }
        // A null section (e.g. "central:" alone) reports its required keys below.
      } else if (prefix == "sources[]" && current_type_ != nullptr && is_other_types_key(name)) {
        add_error(key_at, "unknown key '" + display + "': type " + std::string(current_type_->name) +
                              " has no key '" + name + "'" + suggestion(name, prefix));
      } else {
        add_error(key_at, "unknown key '" + display + "'" + suggestion(name, prefix.starts_with("sources[]") ? "sources[]" : prefix));
      }
    }
  }

  bool is_other_types_key(std::string_view name) const {
    return std::any_of(schema_.source_types.begin(), schema_.source_types.end(),
                       [&](const SourceTypeSpec* type) { return find_type_key(*type, name) != nullptr; });
  }

  // The item's type, read before its keys (they depend on it); an unknown
  // one is reported here, once.
  const SourceTypeSpec* type_of(const YAML::Node& item, const std::string& display) {
    const YAML::Node type = item["type"];
    if (!type || !type.IsScalar() || type.Scalar().empty()) return nullptr;
    const SourceTypeSpec* found = schema_.find_type(type.Scalar());
    if (found == nullptr) {
      add_error(position_of(type.Mark()),
                display + ".type: '" + type.Scalar() + "' is not one of: " + schema_.type_names());
      type_errors_.insert(display);
    }
    return found;
  }

  void walk_sources(const YAML::Node& value, Position value_at) {
    if (!value.IsSequence()) {
      add_error(value_at, "'sources' must be a list of sources (- name: ..., type: ..., path: ...), found " +
                              node_kind(value));
      return;
    }
    if (value.size() == 0) {
      add_error(value_at, "'sources' is empty: list at least one folder to watch");
      return;
    }
    config_.sources.resize(value.size());
    for (std::size_t index = 0; index < value.size(); ++index) {
      const YAML::Node item = value[index];
      const std::string display = "sources[" + std::to_string(index) + "]";
      const Position item_at = position_of(item.Mark());
      if (!item.IsMap()) {
        add_error(item_at, display + " must be a map (name:, type:, path:, ...), found " + node_kind(item));
        continue;
      }
      std::set<std::string> seen;
      SourceConfig& source = config_.sources[index];
      current_type_ = type_of(item, display);
      walk_map(item, "sources[]", display, &source, seen);
      apply_missing(seen, "sources[]", item_at, &source, current_type_, display);
      current_type_ = nullptr;
    }
  }

  // Applies defaults for keys not given and reports missing required ones.
  void apply_missing(const std::set<std::string>& seen, std::string_view scope, Position scope_at,
                     SourceConfig* source, const SourceTypeSpec* type, const std::string& display_prefix = {}) {
    const bool per_source = scope == "sources[]";
    std::vector<std::pair<std::string, const KeySpec*>> keys;
    for (const KeySpec& spec : schema_.keys) keys.emplace_back(std::string(spec.key), &spec);
    if (per_source && type != nullptr) {
      for (const KeySpec& spec : type->keys) keys.emplace_back(std::string(source_item_prefix) + std::string(spec.key), &spec);
    }
    for (const auto& [full_key, spec_pointer] : keys) {
      const KeySpec& spec = *spec_pointer;
      const bool spec_per_source = full_key.starts_with(source_item_prefix);
      if (spec_per_source != per_source) continue;
      if (seen.contains(full_key)) continue;
      std::string display = full_key;
      if (per_source) display = display_prefix + "." + display.substr(source_item_prefix.size());
      if (spec.required) {
        Position at = scope_at;
        // Point at the section the key belongs in, when the section exists;
        // a whole missing section is reported once.
        if (!per_source) {
          const auto dot = display.rfind('.');
          if (dot != std::string::npos) {
            const std::string section = display.substr(0, dot);
            if (auto found = positions_.find(section); found != positions_.end()) {
              at = found->second;
            } else {
              if (missing_sections_.insert(section).second) {
                add_error(at, "missing required section '" + section + "' (see docs/config.md)");
              }
              continue;
            }
          }
        }
        add_error(at, "missing required key '" + display + "': " + std::string(spec.doc));
        continue;
      }
      if (per_source && source == nullptr) continue;
      std::string_view default_text = spec.default_text;
      if (full_key == "sources[].scan_interval" || full_key == "sources[].settle") {
        // Without a valid type the type's default is unknown; the missing or
        // bad type is already reported.
        if (type == nullptr) continue;
        default_text = full_key == "sources[].settle" ? type->settle : type->scan_interval;
      }
      ConfigValue value;
      std::string error;
      if (!parse_text(spec, default_text, value, error)) {
        add_error(scope_at, "internal error: default of " + display + " is invalid: " + error);
        continue;
      }
      store(spec, source, value);
    }
  }

  void store(const KeySpec& spec, SourceConfig* source, const ConfigValue& value) {
    if (spec.apply != nullptr) {
      spec.apply(config_, source, value);
    } else if (source != nullptr) {
      source->settings[std::string(spec.key)] = value;
    }
  }

  // Parses a scalar's text as `spec`'s kind; false with `error` on failure.
  static bool parse_text(const KeySpec& spec, std::string_view text, ConfigValue& value, std::string& error) {
    value.text = std::string(text);
    switch (spec.kind) {
      case ValueKind::text:
        break;
      case ValueKind::path:
        if (!text.empty() && text.front() != '/') {
          error = "'" + std::string(text) + "' must be an absolute path (starting with /)";
          return false;
        }
        break;
      case ValueKind::choice: {
        const bool known = std::find(spec.choices.begin(), spec.choices.end(), text) != spec.choices.end();
        if (!known) {
          std::string all;
          for (std::string_view choice : spec.choices) all += (all.empty() ? "" : ", ") + std::string(choice);
          error = "'" + std::string(text) + "' is not one of: " + all;
          return false;
        }
        break;
      }
      case ValueKind::size: {
        auto parsed = parse_size(text);
        if (!parsed) {
          error = parsed.error;
          return false;
        }
        value.size = *parsed.value;
        break;
      }
      case ValueKind::duration: {
        auto parsed = parse_duration(text);
        if (!parsed) {
          error = parsed.error;
          return false;
        }
        value.duration = *parsed.value;
        break;
      }
      case ValueKind::window: {
        auto parsed = parse_window(text);
        if (!parsed) {
          error = parsed.error;
          return false;
        }
        value.window = *parsed.value;
        break;
      }
      case ValueKind::list:
        if (text == "[]" || text.empty()) break;
        error = "expected a list";
        return false;
    }
    if (spec.check != nullptr) {
      error = spec.check(value);
      if (!error.empty()) return false;
    }
    return true;
  }

  void read_value(const KeySpec& spec, const YAML::Node& node, Position at, const std::string& display,
                  SourceConfig* source) {
    ConfigValue value;
    std::string error;
    auto fail = [&](std::string message) { add_error(at, display + ": " + message); };
    if (spec.kind == ValueKind::list) {
      if (node.IsScalar() || node.IsMap()) {
        fail("expected a list such as [a, b] or one '- item' per line, found " + node_kind(node));
        return;
      }
      if (node.IsSequence()) {
        for (const auto& item : node) {
          if (!item.IsScalar()) {
            add_error(position_of(item.Mark()), display + ": list items must be plain values, found " + node_kind(item));
            return;
          }
          value.list.push_back(item.Scalar());
        }
      }
      if (spec.check != nullptr) {
        error = spec.check(value);
        if (!error.empty()) {
          fail(error);
          return;
        }
      }
      store(spec, source, value);
      return;
    }
    if (node.IsMap() || node.IsSequence()) {
      fail("expected a " + std::string(spec.type_label) + ", found " + node_kind(node));
      return;
    }
    const std::string text = node.IsNull() ? std::string() : node.Scalar();
    if (spec.required && text.empty()) {
      fail("must not be empty: " + std::string(spec.doc));
      return;
    }
    if (text.empty() && spec.kind != ValueKind::text && spec.kind != ValueKind::path &&
        spec.kind != ValueKind::window) {
      fail("must not be empty (leave the key out to use the default)");
      return;
    }
    if (!parse_text(spec, text, value, error)) {
      fail(error);
      return;
    }
    store(spec, source, value);
  }

  Position where(const std::string& key) const {
    auto found = positions_.find(key);
    return found == positions_.end() ? Position{} : found->second;
  }

  // A source's folders (the type's keys marked source_folder) with their key names.
  std::vector<std::pair<std::string, std::filesystem::path>> folders_of(std::size_t index) const {
    std::vector<std::pair<std::string, std::filesystem::path>> folders;
    const SourceConfig& source = config_.sources[index];
    const SourceTypeSpec* type = schema_.find_type(source.type);
    if (type == nullptr) return folders;
    for (const KeySpec& spec : type->keys) {
      const std::filesystem::path folder = source.path(spec.key);
      if (spec.source_folder && !folder.empty()) {
        folders.emplace_back("sources[" + std::to_string(index) + "]." + std::string(spec.key), folder);
      }
    }
    return folders;
  }

  void cross_checks() {
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < config_.sources.size(); ++i) {
      const SourceConfig& source = config_.sources[i];
      const std::string item = "sources[" + std::to_string(i) + "]";
      if (source.name.empty()) continue;
      if (auto [it, inserted] = names.emplace(source.name, i); !inserted) {
        add_error(where(item + ".name"), item + ".name: '" + source.name + "' is already the name of sources[" +
                                             std::to_string(it->second) + "]; names must be unique");
      }
    }
    // A source type may collect under more names than its own (the SS-MIX2
    // extended storage is "<name>-ext"): no other source may use them.
    for (std::size_t i = 0; i < config_.sources.size(); ++i) {
      const SourceConfig& source = config_.sources[i];
      const SourceTypeSpec* type = schema_.find_type(source.type);
      if (type == nullptr || type->labels == nullptr) continue;
      for (const std::string& label : type->labels(source)) {
        if (label == source.name) continue;
        if (auto it = names.find(label); it != names.end()) {
          const std::string item = "sources[" + std::to_string(it->second) + "]";
          add_error(where(item + ".name"), item + ".name: '" + label + "' is taken by sources[" + std::to_string(i) +
                                               "] (" + source.name + "); choose another name");
        }
      }
    }
    // The types' own checks across their keys.
    for (std::size_t i = 0; i < config_.sources.size(); ++i) {
      const SourceConfig& source = config_.sources[i];
      const SourceTypeSpec* type = schema_.find_type(source.type);
      if (type == nullptr || type->check == nullptr) continue;
      const std::string item = "sources[" + std::to_string(i) + "]";
      for (const auto& [key, problem] : type->check(source)) {
        const std::string full = item + "." + key;
        add_error(positions_.contains(full) ? where(full) : where(item + ".type"), full + ": " + problem);
      }
    }
    // Every folder read once, and none of them holding or held by state_dir
    // (medgw writes there; sources are read-only to it: invariant 4).
    std::map<std::filesystem::path, std::string> folders;
    const auto state = (config_.state_dir / "").lexically_normal();
    for (std::size_t i = 0; i < config_.sources.size(); ++i) {
      for (const auto& [key, folder] : folders_of(i)) {
        const auto normal = (folder / "").lexically_normal();  // "/a/b" and "/a/b/" are one folder
        if (auto [it, inserted] = folders.emplace(normal, key); !inserted) {
          add_error(where(key), key + " is the same folder as " + it->second);
        }
        if (!config_.state_dir.empty() && (normal.string().starts_with(state.string()) ||
                                           state.string().starts_with(normal.string()))) {
          add_error(where(key), key + " " + folder.string() + " overlaps state_dir " + config_.state_dir.string() +
                                    ": medgw writes its state and spool there and only reads sources; keep them apart");
        }
      }
    }
    if (!config_.backup.repository.empty() && config_.backup.recipients.empty()) {
      add_error(where("backup.repository"),
                "backup.repository is set but backup.recipients is empty: the backup needs the recipient (age1...) of "
                "the hospital's recovery key");
    }
    if (!config_.backup.repository.empty() && !config_.state_dir.empty() &&
        !config_.backup.repository.starts_with("https://")) {
      const auto repository = (std::filesystem::path(config_.backup.repository) / "").lexically_normal();
      if (repository.string().starts_with(state.string()) || state.string().starts_with(repository.string())) {
        add_error(where("backup.repository"), "backup.repository " + config_.backup.repository + " overlaps state_dir " +
                                                  config_.state_dir.string() + ": keep the backup on another disk");
      }
      for (const auto& [normal, key] : folders) {
        if (repository.string().starts_with(normal.string()) || normal.string().starts_with(repository.string())) {
          add_error(where("backup.repository"), "backup.repository overlaps " + key +
                                                    ": medgw never writes inside a source (put the backup elsewhere)");
        }
      }
    }
    std::set<std::string> recipients;
    for (const std::string& recipient : config_.central.recipients) {
      if (!recipients.insert(recipient).second) {
        add_warning(where("central.recipients"), "central.recipients lists " + recipient + " twice");
      }
    }
  }

  LoadResult finish() {
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    LoadResult result;
    const bool has_error = std::any_of(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& d) {
      return d.severity == Diagnostic::Severity::error;
    });
    if (!has_error) {
      config_.origin = file_;
      result.config = std::move(config_);
    }
    result.diagnostics = std::move(diagnostics_);
    result.positions = std::move(positions_);
    return result;
  }

  std::filesystem::path file_;
  const ConfigSchema& schema_;
  const SourceTypeSpec* current_type_ = nullptr;  // of the sources[] item being read
  Config config_;
  std::vector<Diagnostic> diagnostics_;
  std::map<std::string, Position> positions_;
  std::set<std::string> type_errors_;
  std::set<std::string> missing_sections_;
};

}  // namespace

std::string Diagnostic::format() const {
  std::string out = file.string() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (severity == Severity::warning) out += "warning: ";
  return out + message;
}

LoadResult parse_config(std::string_view yaml, const std::filesystem::path& file, const ConfigSchema& schema) {
  LoadResult result = Loader(file, schema).run(yaml);
  result.schema = &schema;
  return result;
}

LoadResult load_config(const std::filesystem::path& file, const ConfigSchema& schema) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int error = errno;
    std::string reason = "cannot read the config file: " + std::string(std::strerror(error));
    if (error == ENOENT) reason += " (give another file with -c FILE; an example is /usr/share/doc/medgw/medgw.yaml)";
    if (error == EACCES) reason += " (run as root or as the medgw user)";
    return Loader(file, schema).fail_unreadable(reason);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Loader(file, schema).fail_unreadable("cannot read the config file: I/O error");
  return parse_config(text.str(), file, schema);
}

std::optional<Config> load_config_reporting(const std::filesystem::path& file, const ConfigSchema& schema,
                                           std::ostream& err) {
  LoadResult loaded = load_config(file, schema);
  if (!loaded.ok()) {
    for (const Diagnostic& diagnostic : loaded.diagnostics) err << diagnostic.format() << "\n";
    return std::nullopt;
  }
  return std::move(loaded.config);
}

}  // namespace medgw::daemon
