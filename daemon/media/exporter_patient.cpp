// One patient folder: every file into the raw storage, the current version of
// each item (domain.md §1.4: the newest 発生日時 of a logical key, if its flag
// is 1) decoded from ISO-2022-JP before any split and extracted into the
// viewer's record, extended-storage documents embedded for the browser, and
// the record sealed into a data pack with its index row. Problems are counted
// by kind and listed in the record for the viewer; never logged with a path.
#include <daemon/media/export_context.hpp>
#include <daemon/media/extract.hpp>
#include <daemon/media/hl7_fields.hpp>

#include <collectors/ssmix2_name.hpp>
#include <collectors/ssmix2_profile.hpp>
#include <collectors/ssmix2_types.hpp>
#include <claims/text_encoding.hpp>
#include <claims/text_split.hpp>

#include <base/json.hpp>

#include <map>
#include <optional>

namespace medgw::media {
namespace {

constexpr std::uint64_t max_embedded_document = 32 << 20;

// The newest version of each logical key: index into `names`, or none.
template <class Name, class Key>
std::vector<bool> current_versions(const std::vector<std::optional<Name>>& names, Key&& key_of) {
  std::map<std::string, std::size_t> newest;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!names[i]) continue;
    const auto [at, inserted] = newest.try_emplace(key_of(*names[i]), i);
    const Name& held = *names[at->second];
    if (!inserted && (names[i]->timestamp > held.timestamp ||
                      (names[i]->timestamp == held.timestamp && names[i]->condition_flag == '1'))) {
      at->second = i;
    }
  }
  std::vector<bool> current(names.size(), false);
  for (const auto& [key, index] : newest) current[index] = names[index]->condition_flag == '1';
  return current;
}

// Reads a file into the raw storage; nullopt (counted) when unreadable.
std::optional<std::string> take(ExportContext& context, std::size_t volume, const FileRef& file) {
  if (!base::is_valid_utf8(file.path)) context.count("non_utf8_name");
  auto content = context.reader.read(volume, file.path);
  if (!content) {
    context.count("unreadable");
    return std::nullopt;
  }
  context.raw.add(context.reader.volumes()[volume].label, file.path, *content, file.mtime_ns);
  context.file_done(content->size());
  return std::move(*content);
}

std::string_view folder_part(std::string_view path, std::size_t index) {
  const auto parts = claims::split_on(path, '/');
  return index < parts.size() ? parts[index] : std::string_view();
}

void unread(PatientRecord& record, std::string_view type, std::string_view date, std::string_view problem) {
  record.unread.push_back(UnreadItem{std::string(type), std::string(date), std::string(problem)});
}

// One current standardized message into the record; counts what went wrong.
void show_message(ExportContext& context, const collectors::Ssmix2PathCheck& check, const std::string& content,
                  PatientRecord& record) {
  const collectors::Ssmix2FileName& name = *check.name;
  Origin origin{name.data_type, name.timestamp, {}};
  if (!check.problems.empty()) {
    context.count("misplaced");
    origin.warning = "misplaced";
  }
  if (!collectors::is_standard_data_type(name.data_type)) {
    context.count("unknown_data_type");
    unread(record, name.data_type, name.care_date, "unknown_data_type");
    return;
  }
  const auto text = claims::decode_iso2022jp(content);
  if (!text) {
    context.count("encoding_invalid");
    unread(record, name.data_type, name.care_date, "encoding_invalid");
    return;
  }
  const auto message = collectors::Hl7Message::parse(*text);
  if (!message) {
    context.count("hl7_invalid");
    unread(record, name.data_type, name.care_date, "hl7_invalid");
    return;
  }
  const collectors::Hl7Segment* pid = message->find("PID");
  if (pid && !pid->component(3, 1).empty() && pid->component(3, 1) != record.id) {
    context.count("pid_mismatch");
    if (origin.warning.empty()) origin.warning = "pid_mismatch";
  }
  if (!extract_message(*message, origin, name.care_date, record)) {
    context.count("unknown_data_type");
    unread(record, name.data_type, name.care_date, "unknown_data_type");
  }
}

void standardized_files(ExportContext& context, std::size_t volume, const PatientFiles& patient,
                        PatientRecord& record) {
  std::vector<collectors::Ssmix2PathCheck> checks;
  std::vector<std::optional<collectors::Ssmix2FileName>> names;
  checks.reserve(patient.files.size());
  for (const FileRef& file : patient.files) {
    checks.push_back(collectors::check_ssmix2_path(file.path));
    names.push_back(checks.back().name);
  }
  const std::vector<bool> current =
      current_versions(names, [](const collectors::Ssmix2FileName& n) { return n.logical_key(); });
  for (std::size_t i = 0; i < patient.files.size(); ++i) {
    const FileRef& file = patient.files[i];
    const std::string_view date_folder = folder_part(file.path, 3);
    if (!context.in_period(date_folder)) {
      context.count("out_of_period");
      continue;
    }
    const auto content = take(context, volume, file);
    if (!content) {
      unread(record, folder_part(file.path, 4), date_folder, "unreadable");
      continue;
    }
    if (!names[i]) {
      context.count("bad_file_name");
      unread(record, folder_part(file.path, 4), date_folder, "bad_file_name");
      continue;
    }
    if (names[i]->condition_flag == '2') {
      context.count("superseded");
      ++record.superseded;
    } else if (names[i]->condition_flag == '0') {
      context.count("deleted");
      ++record.deleted;
    }
    if (current[i]) show_message(context, checks[i], *content, record);
  }
}

std::string mime_of(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  std::string ext(dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "pdf") return "application/pdf";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "png") return "image/png";
  if (ext == "gif") return "image/gif";
  if (ext == "bmp") return "image/bmp";
  if (ext == "tif" || ext == "tiff") return "image/tiff";
  if (ext == "xml") return "text/xml";
  if (ext == "css") return "text/css";
  if (ext == "txt") return "text/plain";
  if (ext == "htm" || ext == "html") return "text/html";
  if (ext == "hl7") return "x-application/hl7-v2";
  return "application/octet-stream";
}

// The shown name of an extended data-type folder ("code^name^system^std code^std name^LN").
std::string type_title(std::string_view folder) {
  const auto parts = claims::split_on(folder, '^');
  for (std::size_t index : {4u, 1u, 0u}) {
    if (index < parts.size() && !parts[index].empty()) return hl7::unescape(parts[index]);
  }
  return std::string(folder);
}

}  // namespace

namespace {

std::string join_parts(const std::vector<std::string_view>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out.push_back('/');
    out.append(parts[i]);
  }
  return out;
}

struct ContentFolders {
  std::vector<std::string> of_file;           // per file: its content folder ("" when none)
  std::map<std::string, bool> current;        // content folder -> shown as current
  std::map<std::string, char> flag;           // content folder -> condition flag ('1' if unparsable)
};

ContentFolders content_folders(ExportContext& context, const PatientFiles& patient) {
  ContentFolders folders;
  std::vector<std::string> order;
  std::vector<std::optional<collectors::ContentFolderName>> names;
  for (const FileRef& file : patient.files) {
    const auto parts = claims::split_on(file.path, '/');
    if (parts.size() < 7) {
      folders.of_file.emplace_back();
      continue;
    }
    std::string folder = join_parts(parts, 6);
    if (!folders.current.contains(folder)) {
      auto name = collectors::parse_content_folder_name(parts[5]);
      if (!name) context.count("content_folder_invalid");
      folders.current[folder] = !name.has_value();
      folders.flag[folder] = name ? name->condition_flag : '1';
      order.push_back(folder);
      names.push_back(std::move(name));
    }
    folders.of_file.push_back(std::move(folder));
  }
  const std::vector<bool> current = current_versions(names, [](const collectors::ContentFolderName& n) {
    return n.care_date + "\t" + n.data_type + "\t" + n.key;
  });
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (names[i]) folders.current[order[i]] = current[i];
  }
  return folders;
}

void add_document_file(ExportContext& context, const std::string& name, const std::string& content, Document& doc) {
  const std::string mime = mime_of(name);
  if (mime == "x-application/hl7-v2") {
    const auto text = claims::decode_iso2022jp(content);
    const auto message = text ? collectors::Hl7Message::parse(*text) : std::nullopt;
    if (!message) {
      context.count(text ? "hl7_invalid" : "encoding_invalid");
      doc.origin.warning = text ? "hl7_invalid" : "encoding_invalid";
      return;
    }
    doc.text += observations_text(*message);
    return;
  }
  if (content.size() > max_embedded_document) {
    context.count("too_large");
    doc.files.push_back(DocumentFile{name, mime, "", content.size()});
    return;
  }
  const ItemRef ref = context.packer.add_item(content);
  doc.files.push_back(DocumentFile{name, mime, ref.name(), content.size()});
}

void extended_files(ExportContext& context, std::size_t volume, const PatientFiles& patient, PatientRecord& record) {
  const ContentFolders folders = content_folders(context, patient);
  std::map<std::string, Document> documents;
  for (std::size_t i = 0; i < patient.files.size(); ++i) {
    const FileRef& file = patient.files[i];
    const std::string_view date_folder = folder_part(file.path, 3);
    if (!context.in_period(date_folder)) {
      context.count("out_of_period");
      continue;
    }
    const auto content = take(context, volume, file);
    const std::string& folder = folders.of_file[i];
    if (folder.empty()) {
      context.count("content_folder_invalid");
      continue;
    }
    auto [at, first] = documents.try_emplace(folder);
    Document& doc = at->second;
    if (first) {
      const char flag = folders.flag.at(folder);
      if (flag == '2') context.count("superseded");
      if (flag == '0') context.count("deleted");
      const auto name = collectors::parse_content_folder_name(folder_part(folder, 5));
      doc.origin = Origin{name ? name->data_type : std::string(), name ? name->timestamp : std::string(),
                          name ? std::string() : std::string("content_folder_invalid")};
      doc.date = std::string(date_folder);
      doc.title = type_title(folder_part(folder, 4));
    }
    if (!content) {
      unread(record, doc.title, date_folder, "unreadable");
      continue;
    }
    if (!folders.current.at(folder)) continue;
    add_document_file(context, file.path.substr(folder.size() + 1), *content, doc);
  }
  for (auto& [folder, doc] : documents) {
    if (folders.current.at(folder)) record.documents.push_back(std::move(doc));
  }
}

}  // namespace

void export_patient(ExportContext& context, std::size_t standardized, const PatientFiles& standard_files,
                    std::size_t extended, const PatientFiles& extended_files_of) {
  PatientRecord record;
  record.id = !standard_files.id.empty() ? standard_files.id : extended_files_of.id;
  const auto& volumes = context.reader.volumes();
  record.source = standardized != SIZE_MAX ? volumes[standardized].label : volumes[extended].label;
  if (standardized != SIZE_MAX) standardized_files(context, standardized, standard_files, record);
  if (extended != SIZE_MAX) extended_files(context, extended, extended_files_of, record);
  ++context.summary.patients;
  const ItemRef ref = context.packer.add_item(to_json(record), true);
  context.packer.add_index_row(IndexRow{ref, record.id, record.name, record.kana, record.birth, record.sex});
}

void export_loose_file(ExportContext& context, std::size_t volume, const FileRef& file) {
  context.count("not_in_patient_folder");
  (void)take(context, volume, file);
}

}  // namespace medgw::media
