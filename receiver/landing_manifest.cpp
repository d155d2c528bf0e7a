#include <receiver/landing_manifest.hpp>

#include <receiver/identifiers.hpp>

#include <base/base64.hpp>
#include <base/json_reader.hpp>

#include <algorithm>

namespace medgw::receiver {
namespace {

base::Failure<LandingFailure> refusal(std::string code, std::string message, std::int64_t entry = -1,
                                      std::string patient = {}) {
  return base::fail(LandingFailure{std::move(code), std::move(message), false, entry, std::move(patient)});
}

// The exact bytes of a name: `<key>_base64` when the gateway sent one (the
// name is not UTF-8 and `<key>` is a lossy rendering), else `<key>`.
std::optional<std::string> exact_name(const base::JsonValue& entry, std::string_view key) {
  const std::string encoded = std::string(key) + "_base64";
  if (const base::JsonValue* base64 = entry.find(encoded)) {
    if (!base64->is_string()) return std::nullopt;
    auto bytes = base::base64_decode_padded(base64->text());
    if (!bytes) bytes = base::base64_decode_canonical(base64->text());
    if (!bytes) return std::nullopt;
    return std::string(bytes->begin(), bytes->end());
  }
  if (const base::JsonValue* text = entry.find(key); text != nullptr && text->is_string()) return text->text();
  return std::nullopt;
}

std::optional<Change> parse_change(std::string_view text) {
  if (text == "add") return Change::add;
  if (text == "modify") return Change::modify;
  if (text == "rename") return Change::rename;
  if (text == "delete") return Change::remove;
  if (text == "withdraw") return Change::withdraw;
  return std::nullopt;
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A withdraw's optional text field (a missing one is empty).
std::string optional_text(const base::JsonValue& meta, std::string_view key) {
  const base::JsonValue* value = meta.find(key);
  return value != nullptr && value->is_string() ? value->text() : std::string();
}

// The gateway's sources of one kind, as the withdraw names them; nullopt
// when a name is not a usable source name.
std::optional<std::vector<std::string>> source_list(const base::JsonValue& meta, std::string_view key) {
  std::vector<std::string> out;
  const base::JsonValue* list = meta.find(key);
  if (list == nullptr) return out;
  for (const base::JsonValue& item : list->items()) {
    if (!item.is_string() || !is_source_name(item.text())) return std::nullopt;
    out.push_back(item.text());
  }
  return out;
}

base::Result<ManifestEntry, LandingFailure> read_withdraw(const base::JsonValue& json, ManifestEntry entry,
                                                          std::int64_t index, const LandingRequest& request) {
  const base::JsonValue& meta = json.at("meta");
  entry.patient_id = meta.string_at("patient_id");
  const std::string tag = request.tagger != nullptr ? request.tagger->tag(entry.patient_id) : std::string();
  if (!is_safe_relative_path(entry.patient_id) || entry.patient_id.find('/') != std::string::npos) {
    return refusal("bad_withdraw", "a withdraw names an unusable patient ID", index, tag);
  }
  entry.dpc_id = optional_text(meta, "dpc_id");
  entry.kana_name = optional_text(meta, "kana_name");
  entry.birth_date = optional_text(meta, "birth_date");
  auto dpc = source_list(meta, "dpc_sources");
  auto receipt = source_list(meta, "receipt_sources");
  if (!dpc || !receipt) return refusal("bad_withdraw", "a withdraw names an unusable source", index, tag);
  entry.dpc_sources = std::move(*dpc);
  entry.receipt_sources = std::move(*receipt);
  if (const base::JsonValue* folders = meta.find("patient_folders")) {
    for (const base::JsonValue& item : folders->items()) {
      const base::JsonValue* source = item.find("source");
      const base::JsonValue* folder = item.find("folder");
      std::string_view path = folder != nullptr && folder->is_string() ? std::string_view(folder->text()) : "";
      while (path.ends_with('/')) path.remove_suffix(1);  // a folder is named with its '/'
      if (source == nullptr || !source->is_string() || !is_source_name(source->text()) ||
          !is_safe_relative_path(path)) {
        return refusal("bad_withdraw", "a withdraw names an unusable patient folder", index, tag);
      }
      entry.patient_folders.emplace_back(source->text(), std::string(path));
    }
  }
  return entry;
}

// One entry, or why it is refused. JsonError from typed access is caught by the caller.
base::Result<ManifestEntry, LandingFailure> read_entry(const base::JsonValue& json, std::int64_t index,
                                                       const LandingRequest& request) {
  ManifestEntry entry;
  entry.source = json.string_at("source");
  if (!is_source_name(entry.source)) return refusal("unsafe_path", "a manifest entry names an unusable source", index);
  const auto change = parse_change(json.string_at("change"));
  if (!change) return refusal("bad_manifest", "a manifest entry has an unknown change", index);
  entry.change = *change;
  if (entry.change == Change::withdraw) return read_withdraw(json, std::move(entry), index, request);
  const auto path = exact_name(json, "path");
  if (!path) return refusal("bad_manifest", "a manifest entry has no usable path", index);
  entry.path = *path;
  if (!is_safe_relative_path(entry.path)) {
    return refusal("unsafe_path", "a manifest entry names a path outside the tree; the object is refused", index,
                   patient_tag_of(entry, request.tagger));
  }
  if (entry.change != Change::remove) {
    entry.sha256 = json.string_at("sha256");
    if (!is_sha256_hex(entry.sha256)) return refusal("bad_manifest", "a manifest entry has no usable sha256", index);
  }
  if (entry.change == Change::rename) {
    const auto from = exact_name(json, "from");
    if (!from || !is_safe_relative_path(*from)) {
      return refusal("unsafe_path", "a rename names a path outside the tree; the object is refused", index,
                     patient_tag_of(entry, request.tagger));
    }
    entry.from = *from;
  }
  if (entry.carries_content()) {
    entry.size = json.uint_at("size");
    if (entry.size > request.limits.max_member_size) {
      return refusal("member_too_large", "a file is larger than landing_max_member_size", index,
                     patient_tag_of(entry, request.tagger));
    }
  }
  return entry;
}

using Read = base::Result<bool, LandingFailure>;

// /1: every entry in full, each file with content named and sized.
Read read_entries_v1(const base::JsonValue& json, Manifest& manifest, std::int64_t& index,
                     const LandingRequest& request) {
  for (const base::JsonValue& item : json.at("entries").items()) {
    ++index;
    auto entry = read_entry(item, index, request);
    if (!entry) return base::fail(entry.error());
    if (entry->carries_content()) {
      if (!manifest.content_of.emplace(entry->member_name(), manifest.entries.size()).second) {
        return refusal("bad_manifest", "the manifest lists one file twice", index);
      }
      manifest.content_bytes += entry->size;
      if (manifest.content_bytes > max_sql_integer) return refusal("bad_manifest", "the manifest's sizes overflow", index);
    }
    manifest.entries.push_back(std::move(*entry));
  }
  return true;
}

std::optional<Change> parse_letter(char letter) {
  switch (letter) {
    case 'A': return Change::add;
    case 'M': return Change::modify;
    case 'R': return Change::rename;
    case 'D': return Change::remove;
    case 'W': return Change::withdraw;
    default: return std::nullopt;
  }
}

// /2: one letter per entry; A and M are the next member (named and sized by
// landing as it reads them), the others the next item of "entries".
Read read_entries_v2(const base::JsonValue& json, Manifest& manifest, std::int64_t& index,
                     const LandingRequest& request) {
  const std::string& changes = json.string_at("changes");
  manifest.content_bytes = json.uint_at("content_bytes");
  if (manifest.content_bytes > max_sql_integer) return refusal("bad_manifest", "the manifest's sizes overflow");
  const auto& listed = json.at("entries").items();
  std::size_t next_listed = 0;
  for (const char letter : changes) {
    ++index;
    const auto change = parse_letter(letter);
    if (!change) return refusal("bad_manifest", "the manifest has an unknown change letter", index);
    if (*change == Change::add || *change == Change::modify) {
      ManifestEntry entry;
      entry.change = *change;
      manifest.content_order.push_back(manifest.entries.size());
      manifest.entries.push_back(std::move(entry));
      continue;
    }
    if (next_listed == listed.size()) return refusal("bad_manifest", "the manifest's entries end before its changes", index);
    auto entry = read_entry(listed[next_listed++], index, request);
    if (!entry) return base::fail(entry.error());
    if (entry->change != *change) return refusal("bad_manifest", "an entry's change differs from its letter", index);
    manifest.entries.push_back(std::move(*entry));
  }
  if (next_listed != listed.size()) return refusal("bad_manifest", "the manifest lists more entries than its changes");
  if (json.at("meta").items().size() != manifest.content_order.size()) {
    return refusal("bad_manifest", "the manifest's meta does not match its files");
  }
  return true;
}

}  // namespace

std::string patient_tag_of(const ManifestEntry& entry, const crypto::PatientTagger* tagger) {
  if (tagger == nullptr || !entry.source.starts_with("ssmix2")) return {};
  const auto first = entry.path.find('/');
  const auto second = first == std::string::npos ? first : entry.path.find('/', first + 1);
  const auto third = second == std::string::npos ? second : entry.path.find('/', second + 1);
  if (second == std::string::npos) return {};
  return tagger->tag(entry.path.substr(second + 1, third == std::string::npos ? std::string::npos : third - second - 1));
}

base::Result<Manifest, LandingFailure> read_manifest(std::string_view text, const LandingRequest& request) {
  Manifest manifest;
  std::int64_t index = -1;
  try {
    const base::JsonValue json = base::JsonValue::parse(text);
    const auto* format = json.find("format");
    if (format != nullptr && format->is_string() && format->text() == "medgw-object/2") {
      manifest.version = 2;
    } else if (format == nullptr || !format->is_string() || format->text() != "medgw-object/1") {
      return refusal("bad_manifest", "MANIFEST.json is neither medgw-object/1 nor /2");
    }
    if (const auto* field = json.find("facility")) manifest.facility = field->text();
    if (const auto* field = json.find("object_id")) manifest.object_id = field->text();
    if (const auto* field = json.find("seq"); field != nullptr && field->as_uint()) manifest.seq = *field->as_uint();
    // The manifest must be the object's own: a validly signed object cannot
    // carry another facility's (or another object's) contents.
    if ((!request.facility.empty() && manifest.facility != request.facility) ||
        (!request.object_id.empty() && manifest.object_id != request.object_id) ||
        (request.seq != 0 && manifest.seq != request.seq)) {
      return refusal("manifest_mismatch", "MANIFEST.json names another facility, object or seq than the upload");
    }
    auto read = manifest.version == 2 ? read_entries_v2(json, manifest, index, request)
                                      : read_entries_v1(json, manifest, index, request);
    if (!read) return base::fail(read.error());
  } catch (const base::JsonError&) {
    // JsonError's text may quote the manifest (names): not passed on.
    return refusal("bad_manifest", "MANIFEST.json is not a valid manifest", index);
  }
  return manifest;
}

}  // namespace medgw::receiver
