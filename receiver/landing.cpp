#include <receiver/landing.hpp>

#include <crypto/hash.hpp>

#include <base/archive_handles.hpp>
#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json_reader.hpp>
#include <base/output_file.hpp>
#include <base/utf8_locale.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include <archive.h>
#include <archive_entry.h>

namespace medgw::receiver {
namespace {

// Decrypts the object into a private temporary file beside the tree (the
// tree is plaintext anyway); libarchive then reads the tar.zst from it.
class PlainTemp {
 public:
  PlainTemp(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
            const std::filesystem::path& directory)
      : path_(directory / (".landing-" + object_file.filename().string() + ".tar.zst")) {
    std::ifstream in(object_file, std::ios::binary);
    if (!in) throw LandingError("cannot read " + object_file.string());
    base::AtomicFile out(path_, 0600);
    crypto::age::Decryptor decryptor(identity, out);
    std::vector<char> block(1 << 20);
    while (in) {
      in.read(block.data(), static_cast<std::streamsize>(block.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      if (auto failure = decryptor.feed(base::ByteView(reinterpret_cast<const std::uint8_t*>(block.data()), got))) {
        throw LandingError("the object does not decrypt: " + failure->message());
      }
    }
    if (auto failure = decryptor.finish()) throw LandingError("the object does not decrypt: " + failure->message());
    out.commit();
  }
  PlainTemp(const PlainTemp&) = delete;
  PlainTemp& operator=(const PlainTemp&) = delete;
  ~PlainTemp() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string entry_path(const base::JsonValue& entry, std::string_view key) {
  if (const base::JsonValue* text = entry.find(key)) return text->text();
  const std::string encoded = std::string(key) + "_base64";
  if (const base::JsonValue* base64 = entry.find(encoded)) {
    auto bytes = base::base64_decode_padded(base64->text());
    if (!bytes) bytes = base::base64_decode_canonical(base64->text());
    if (bytes) return std::string(bytes->begin(), bytes->end());
  }
  throw LandingError("a manifest entry has no " + std::string(key));
}

struct Planned {
  const base::JsonValue* entry = nullptr;
  std::string source;
  std::string path;
  std::string change;
};

void ensure_parent(const std::filesystem::path& file) { std::filesystem::create_directories(file.parent_path()); }

}  // namespace

bool safe_relative_path(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (true) {
    const auto end = path.find('/', start);
    const std::string_view part = path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

LandingSummary land_object(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
                           const std::filesystem::path& facility_root) {
  const base::ScopedUtf8Locale utf8_locale;
  std::filesystem::create_directories(facility_root);
  // What a landing cut off by a crash left behind: its temporary files (the
  // tree itself holds only source folders). The object is landed again whole;
  // every step is safe to repeat.
  for (const auto& item : std::filesystem::directory_iterator(facility_root)) {
    if (item.is_regular_file() && item.path().filename().string().starts_with(".")) {
      std::error_code ec;
      std::filesystem::remove(item.path(), ec);
    }
  }
  const PlainTemp plain(object_file, identity, facility_root);
  base::libarchive::Reader a(archive_read_new());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), plain.path().c_str(), 1 << 20) != ARCHIVE_OK) {
    throw LandingError(std::string("cannot open the object's tar: ") + archive_error_string(a.get()));
  }
  struct archive_entry* member = nullptr;
  if (archive_read_next_header(a.get(), &member) != ARCHIVE_OK ||
      std::string_view(archive_entry_pathname(member)) != "MANIFEST.json") {
    throw LandingError("the object's first member is not MANIFEST.json");
  }
  std::string manifest_text;
  {
    const la_int64_t size = archive_entry_size(member);
    if (size < 0 || size > (256 << 20)) throw LandingError("MANIFEST.json is too large");
    manifest_text.resize(static_cast<std::size_t>(size));
    if (archive_read_data(a.get(), manifest_text.data(), manifest_text.size()) != size) {
      throw LandingError("MANIFEST.json is truncated");
    }
  }
  const base::JsonValue manifest = base::JsonValue::parse(manifest_text);
  std::vector<Planned> plan;
  std::map<std::string, std::size_t> content_of;  // member name -> entry
  for (const base::JsonValue& entry : manifest.at("entries").items()) {
    Planned planned{&entry, entry.string_at("source"), entry_path(entry, "path"), entry.string_at("change")};
    if (!safe_relative_path(planned.source) || planned.source.find('/') != std::string::npos ||
        (planned.change != "withdraw" && !safe_relative_path(planned.path))) {
      throw LandingError("a manifest entry names a path outside the tree; the object is refused");
    }
    if (planned.change == "rename" && !safe_relative_path(entry_path(entry, "from"))) {
      throw LandingError("a rename names a path outside the tree; the object is refused");
    }
    if (planned.change == "add" || planned.change == "modify") content_of[planned.source + "/" + planned.path] = plan.size();
    plan.push_back(std::move(planned));
  }

  // Members: each written to a temporary file, checked, kept for the plan.
  std::map<std::size_t, std::filesystem::path> staged;
  struct Cleanup {
    std::map<std::size_t, std::filesystem::path>& files;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& [index, file] : files) std::filesystem::remove(file, ec);
    }
  } cleanup{staged};
  std::vector<char> block(1 << 20);
  while (true) {
    const int result = archive_read_next_header(a.get(), &member);
    if (result == ARCHIVE_EOF) break;
    if (result != ARCHIVE_OK) throw LandingError(std::string("the object's tar is damaged: ") + archive_error_string(a.get()));
    const std::string name = archive_entry_pathname(member);
    if (archive_entry_filetype(member) != AE_IFREG) throw LandingError("the object holds something other than a file");
    const auto planned = content_of.find(name);
    if (planned == content_of.end() || staged.contains(planned->second)) {
      throw LandingError("the object holds a file its manifest does not list");
    }
    const base::JsonValue& entry = *plan[planned->second].entry;
    const std::filesystem::path temporary = facility_root / (".landing-member-" + std::to_string(planned->second));
    staged[planned->second] = temporary;
    base::AtomicFile out(temporary, 0644);
    crypto::Sha256 hash;
    std::uint64_t size = 0;
    while (true) {
      const la_ssize_t got = archive_read_data(a.get(), block.data(), block.size());
      if (got < 0) throw LandingError(std::string("the object's tar is damaged: ") + archive_error_string(a.get()));
      if (got == 0) break;
      const base::ByteView bytes(reinterpret_cast<const std::uint8_t*>(block.data()), static_cast<std::size_t>(got));
      out.write(bytes);
      hash.update(bytes);
      size += static_cast<std::uint64_t>(got);
    }
    if (size != entry.uint_at("size") || base::to_hex(hash.finish()) != entry.string_at("sha256")) {
      throw LandingError("a file in the object does not match its manifest entry");
    }
    out.commit();
  }
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if ((plan[i].change == "add" || plan[i].change == "modify") && !staged.contains(i)) {
      throw LandingError("the manifest lists a file the object does not hold");
    }
  }

  // Apply in manifest order.
  LandingSummary summary;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const Planned& step = plan[i];
    const std::filesystem::path target = facility_root / step.source / step.path;
    if (step.change == "add" || step.change == "modify") {
      ensure_parent(target);
      std::filesystem::rename(staged.at(i), target);
      staged.erase(i);
      ++summary.written;
    } else if (step.change == "rename") {
      const std::filesystem::path from = facility_root / step.source / entry_path(*step.entry, "from");
      ensure_parent(target);
      std::error_code ec;
      std::filesystem::rename(from, target, ec);
      // Landing again after a crash in the middle of this object: done already.
      if (ec && !(std::filesystem::exists(target) && !std::filesystem::exists(from))) {
        throw LandingError("a rename's source is missing from the landed tree (an object is missing?)");
      }
      ++summary.renamed;
    } else if (step.change == "delete") {
      std::error_code ec;
      std::filesystem::remove(target, ec);
      ++summary.deleted;
    } else if (step.change == "withdraw") {
      // The patient opted out: what the central holds of them goes.
      const std::string patient = step.entry->at("meta").string_at("patient_id");
      if (!safe_relative_path(patient) || patient.find('/') != std::string::npos) {
        throw LandingError("a withdraw names an unusable patient ID");
      }
      const std::string folder = patient.substr(0, 3) + "/" + (patient.size() > 3 ? patient.substr(3, 3) : "") + "/" + patient;
      std::error_code ec;
      for (const auto& source : std::filesystem::directory_iterator(facility_root, ec)) {
        if (source.is_directory() && source.path().filename().string().starts_with("ssmix2")) {
          std::filesystem::remove_all(source.path() / folder, ec);
        }
      }
      ++summary.withdrawn;
    } else {
      throw LandingError("a manifest entry has an unknown change");
    }
  }
  return summary;
}

}  // namespace medgw::receiver
