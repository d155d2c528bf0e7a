#include <daemon/support/config_render.hpp>

#include <daemon/config/units.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <set>

#include <yaml-cpp/yaml.h>

namespace medgw::daemon {
namespace {

const KeySpec* main_key(const ConfigSchema& schema, std::string_view key) {
  for (const KeySpec& spec : schema.keys) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

bool is_section(const ConfigSchema& schema, std::string_view key) {
  const std::string prefix = std::string(key) + ".";
  return std::any_of(schema.keys.begin(), schema.keys.end(), [&](const KeySpec& spec) { return spec.key.starts_with(prefix); });
}

class Reader {
 public:
  explicit Reader(const ConfigSchema& schema) : schema_(schema) {}

  void map(const YAML::Node& node, const std::string& prefix, const std::string& display, const SourceTypeSpec* type,
           bool in_source) {
    for (const auto& entry : node) {
      const int line = entry.first.Mark().line + 1;
      if (!entry.first.IsScalar()) continue;
      const std::string name = entry.first.Scalar();
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      const std::string shown = display.empty() ? name : display + "." + name;
      const KeySpec* spec = main_key(schema_, full);
      if (spec == nullptr && in_source && type != nullptr) spec = find_type_key(*type, name);
      if (spec != nullptr) {
        add(shown, line, spec, entry.second);
      } else if (prefix.empty() && name == source_list_key && entry.second.IsSequence()) {
        sources(entry.second);
      } else if (!in_source && is_section(schema_, full) && entry.second.IsMap()) {
        map(entry.second, full, shown, nullptr, false);
      } else {
        items.push_back(ConfigItem{shown, line, nullptr, {}, false});
      }
    }
  }

  std::vector<ConfigItem> items;

 private:
  void sources(const YAML::Node& list) {
    for (std::size_t index = 0; index < list.size(); ++index) {
      const YAML::Node item = list[index];
      const std::string display = "sources[" + std::to_string(index) + "]";
      if (!item.IsMap()) {
        items.push_back(ConfigItem{display, item.Mark().line + 1, nullptr, {}, false});
        continue;
      }
      const YAML::Node type_node = item["type"];
      const SourceTypeSpec* type =
          type_node && type_node.IsScalar() ? schema_.find_type(type_node.Scalar()) : nullptr;
      map(item, "sources[]", display, type, true);
    }
  }

  void add(const std::string& key, int line, const KeySpec* spec, const YAML::Node& node) {
    ConfigItem item{key, line, spec, {}, spec->kind == ValueKind::list};
    if (node.IsScalar()) {
      item.values.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      item.list = true;
      for (const auto& value : node) {
        if (value.IsScalar()) item.values.push_back(value.Scalar());
      }
    } else if (!node.IsNull()) {
      item.spec = nullptr;  // a map where a value belongs: shown as unknown, without its content
    }
    items.push_back(std::move(item));
  }

  const ConfigSchema& schema_;
};

// Whether a plain value is what its key accepts (a value that is not may
// be anything, so it is not shown).
bool acceptable(const KeySpec& spec, const std::string& value) {
  ConfigValue parsed;
  parsed.text = value;
  switch (spec.kind) {
    case ValueKind::size: {
      auto size = parse_size(value);
      if (!size) return false;
      parsed.size = *size.value;
      break;
    }
    case ValueKind::duration: {
      auto duration = parse_duration(value);
      if (!duration) return false;
      parsed.duration = *duration.value;
      break;
    }
    case ValueKind::window:
      if (!parse_window(value)) return false;
      break;
    case ValueKind::choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) return false;
      break;
    case ValueKind::path:
      if (!value.empty() && value.front() != '/') return false;
      break;
    case ValueKind::list:
      parsed.list = {value};
      break;
    case ValueKind::text:
      break;
  }
  return spec.check == nullptr || spec.check(parsed).empty();
}

}  // namespace

std::string ConfigValues::text(std::string_view key) const {
  for (const ConfigItem& item : items) {
    if (item.key == key && !item.values.empty()) return item.values.front();
  }
  return {};
}

ConfigValues read_config_values(const std::filesystem::path& file, const ConfigSchema& schema) {
  ConfigValues values;
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    values.problem = "cannot read " + file.string();
    return values;
  } catch (const YAML::Exception& error) {
    values.problem = "not valid YAML (line " + std::to_string(error.mark.line + 1) + ")";
    return values;
  }
  if (!root.IsMap()) {
    values.problem = "not a map of keys";
    return values;
  }
  Reader reader(schema);
  reader.map(root, "", "", nullptr, false);
  values.items = std::move(reader.items);
  return values;
}

std::string shown_value(const ConfigItem& item, const std::string& value, const crypto::PatientTagger& tagger) {
  if (item.spec == nullptr) return "<unknown key: value not shown>";
  if (value.empty()) return value;
  switch (item.spec->sensitivity) {
    case Sensitivity::secret: return "<secret>";
    case Sensitivity::phi_path: return "<phi_path " + tagger.tag(value) + ">";
    case Sensitivity::plain: break;
  }
  if (!acceptable(*item.spec, value)) return "<invalid value: not shown>";
  if (looks_secret(value)) return "<hidden: looks like a secret>";
  return value;
}

std::vector<std::pair<std::string, std::string>> marked_values(const ConfigValues& values,
                                                               const crypto::PatientTagger& tagger) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ConfigItem& item : values.items) {
    for (const std::string& value : item.values) {
      const std::string shown = shown_value(item, value, tagger);
      if (shown != value && !value.empty()) out.emplace_back(value, shown);
    }
  }
  return out;
}

namespace {

void write_diagnostics(base::JsonWriter& doc, std::string_view name, const std::vector<Diagnostic>& diagnostics,
                       Diagnostic::Severity severity, const Redactor& redactor) {
  doc.key(name).begin_array();
  for (const Diagnostic& diagnostic : diagnostics) {
    if (diagnostic.severity != severity) continue;
    doc.value(redactor.line(std::to_string(diagnostic.line) + ":" + std::to_string(diagnostic.column) + ": " +
                            diagnostic.message));
  }
  doc.end_array();
}

}  // namespace

std::string render_config_json(const std::filesystem::path& file, const ConfigValues& values, const ConfigSchema& schema,
                               const LoadResult& loaded, const std::vector<Diagnostic>& warnings,
                               const Redactor& redactor, const crypto::PatientTagger& tagger) {
  base::JsonWriter doc;
  doc.begin_object().field("file", file.string()).field("valid", loaded.ok());
  if (!values.problem.empty()) doc.field("problem", values.problem);
  write_diagnostics(doc, "errors", loaded.diagnostics, Diagnostic::Severity::error, redactor);
  write_diagnostics(doc, "warnings", warnings, Diagnostic::Severity::warning, redactor);
  doc.key("keys").begin_array();
  std::set<std::string> given;
  for (const ConfigItem& item : values.items) {
    doc.begin_object().field("key", redactor.line(item.key)).field("line", item.line);
    if (item.spec == nullptr) {
      doc.field("known", false).end_object();
      continue;
    }
    doc.field("sensitivity", sensitivity_name(item.spec->sensitivity));
    doc.key("value");
    if (item.list) doc.begin_array();
    for (const std::string& value : item.values) doc.value(shown_value(item, value, tagger));
    if (item.list) doc.end_array();
    if (!item.list && item.values.empty()) doc.value("");
    doc.end_object();
    if (!item.key.starts_with("sources[")) given.insert(item.key);
  }
  doc.end_array();
  // What applies without being written (the table's defaults).
  doc.key("defaults").begin_object();
  for (const KeySpec& spec : schema.keys) {
    if (spec.required || spec.key.starts_with(source_item_prefix) || given.contains(std::string(spec.key))) continue;
    doc.field(spec.key, spec.default_text);
  }
  doc.end_object();
  doc.end_object();
  return doc.take();
}

}  // namespace medgw::daemon
