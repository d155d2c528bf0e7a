// The export: walks each standardized volume patient folder by patient folder
// (the tree is ordered pid[0:3]/pid[3:6]/pid/, so a patient's files come out
// together), takes each patient's extended-storage folder along, then the
// patients found only in the extended storage; finally the viewer, README.TXT,
// DATA/KEY.JS, the raw storage's end and the signed manifest.
#include <daemon/media/exporter.hpp>

#include <daemon/media/export_context.hpp>
#include <daemon/media/manifest.hpp>
#include <daemon/media/readme_text.hpp>
#include <daemon/media/viewer_assets.hpp>

#include <collectors/ssmix2_profile.hpp>

#include <base/time_format.hpp>
#include <base/utf8_locale.hpp>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <system_error>

#include <unistd.h>

namespace medgw::media {
namespace {

namespace fs = std::filesystem;

// A private scratch folder beside the output, removed at the end.
class WorkDir {
 public:
  explicit WorkDir(const fs::path& out) {
    std::string pattern = out.string() + ".medgw-work-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "cannot create a folder beside " + out.string());
    }
    path_ = pattern;
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// "999/901/9999013/" of a path at least four levels deep, else empty.
std::string_view patient_folder_of(std::string_view path) {
  std::size_t at = 0;
  for (int level = 0; level < 3; ++level) {
    at = path.find('/', at);
    if (at == std::string_view::npos) return {};
    ++at;
  }
  return path.substr(0, at);
}

std::string id_of(std::string_view folder) {
  folder.remove_suffix(1);
  return std::string(folder.substr(folder.rfind('/') + 1));
}

// Calls `patient` for each patient folder under `prefix` of `volume`, and
// `loose` for files outside any.
template <class Patient, class Loose>
base::Status for_each_patient(ExportContext& context, std::size_t volume, std::string_view prefix, Patient&& patient,
                              Loose&& loose) {
  PatientFiles current;
  WalkIssues issues;
  base::Status walked = context.reader.walk(
      volume, prefix,
      [&](const StoredFile& file) {
        const std::string_view folder = patient_folder_of(file.path);
        if (folder.empty()) {
          loose(FileRef{std::string(file.path), file.size, file.mtime_ns});
          return;
        }
        if (folder != current.folder) {
          if (!current.files.empty()) patient(current);
          current = PatientFiles{std::string(folder), id_of(folder), {}};
        }
        current.files.push_back(FileRef{std::string(file.path), file.size, file.mtime_ns});
      },
      issues);
  if (walked && !current.files.empty()) patient(current);
  if (issues.unreadable) context.count("unreadable", issues.unreadable);
  if (issues.skipped) context.count("not_a_file", issues.skipped);
  return walked;
}

// The prefixes to walk: all ("") or the listed patients' folders, in order.
std::vector<std::string> prefixes(const ExportOptions& options) {
  if (!options.patients) return {""};
  std::vector<std::string> out;
  for (const std::string& id : *options.patients) out.push_back(collectors::ssmix2_patient_folder(id));
  std::sort(out.begin(), out.end());
  return out;
}

base::Status export_volume(ExportContext& context, std::size_t standardized) {
  const std::size_t extended = context.reader.volumes()[standardized].partner;
  const auto loose = [&](std::size_t volume) {
    return [&context, volume](const FileRef& file) { export_loose_file(context, volume, file); };
  };
  for (const std::string& prefix : prefixes(context.options)) {
    base::Status done = for_each_patient(
        context, standardized, prefix,
        [&](const PatientFiles& patient) {
          PatientFiles documents{patient.folder, patient.id, {}};
          if (extended != SIZE_MAX) {
            // An unreadable extended storage is counted; the patient's standardized data still goes.
            if (!for_each_patient(context, extended, patient.folder,
                                  [&](const PatientFiles& found) { documents.files = found.files; }, loose(extended))) {
              context.count("unreadable");
            }
          }
          export_patient(context, standardized, patient, extended, documents);
        },
        loose(standardized));
    if (!done) return done;
    if (extended == SIZE_MAX) continue;
    // Patients with extended documents only.
    done = for_each_patient(
        context, extended, prefix,
        [&](const PatientFiles& patient) {
          if (context.reader.has_folder(standardized, patient.folder)) return;  // done above
          export_patient(context, SIZE_MAX, PatientFiles{}, extended, patient);
        },
        [&](const FileRef& file) {
          if (prefix.empty()) export_loose_file(context, extended, file);
        });
    if (!done) return done;
  }
  return {};
}

std::string local_time_text(std::time_t when) {
  std::tm tm{};
  ::localtime_r(&when, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M %Z", &tm);
  return text;
}

void add_viewer(MediaSink& sink, std::int64_t now) {
  for (const ViewerAsset& asset : viewer_assets()) {
    if (asset.name == "index.htm") {
      sink.add("INDEX.HTM", asset.content, now);
      continue;
    }
    std::string name(asset.name);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    sink.add("VIEWER/" + name, asset.content, now);
  }
}

}  // namespace

base::Result<ExportSummary> export_media(StorageReader& reader, const ExportOptions& options,
                                         const crypto::SigningKey& signer) {
  const auto started = std::chrono::steady_clock::now();
  if (const std::string problem = target_problem(options.out, options.format, options.replace); !problem.empty()) {
    return base::fail("target", problem);
  }
  if (options.encrypt && options.passphrase.empty()) {
    return base::fail("no_passphrase", "encrypted media need a passphrase (--passphrase-file FILE)");
  }
  ExportSummary summary;
  try {
    const base::ScopedUtf8Locale utf8_locale;
    const WorkDir work(options.out);
    const std::time_t now = std::time(nullptr);
    const std::string volume_id = "MEDGW_" + base::rfc3339_utc(std::chrono::system_clock::from_time_t(now)).substr(0, 10);
    auto sink = open_media_sink(SinkOptions{options.out, work.path(), options.format, !options.encrypt,
                                            options.replace, volume_id});
    ManifestRecorder manifest(*sink, work.path() / "manifest-entries");
    std::optional<MediaCipher> cipher;
    if (options.encrypt) cipher = MediaCipher::derive(std::string_view(options.passphrase), options.iterations);
    auto raw = options.encrypt ? open_encrypted_raw_storage(manifest, std::string_view(options.passphrase))
                               : open_clear_raw_storage(manifest);
    DataPacker packer(manifest, cipher ? &*cipher : nullptr, now);
    ExportContext context{reader, options, *raw, packer, summary};
    for (std::size_t volume = 0; volume < reader.volumes().size(); ++volume) {
      if (reader.volumes()[volume].kind != VolumeKind::standardized) continue;
      if (base::Status done = export_volume(context, volume); !done) return base::fail(done.error());
    }
    const std::string created = base::rfc3339_utc(std::chrono::system_clock::from_time_t(now));
    const std::string facility = options.facility_code + (options.facility_name.empty() ? "" : " " + options.facility_name);
    packer.finish(MediaInfo{options.title, created, facility});
    add_viewer(manifest, now);
    manifest.add("README.TXT",
                 readme_text(ReadmeFacts{options.title, facility, local_time_text(now), std::string(reader.origin()),
                                         reader.snapshot(), options.medgw_version, signer.public_key_text(),
                                         options.encrypt, summary.patients}),
                 now);
    raw->finish();
    if (raw->names_not_portable()) summary.counts["non_utf8_name_in_tar"] += raw->names_not_portable();
    ManifestHeader header{created, options.medgw_version, options.facility_code, options.facility_name,
                          std::string(reader.origin()), reader.snapshot(), {}, options.encrypt, options.title};
    for (const Volume& volume : reader.volumes()) header.volumes.push_back(volume.label);
    summary.media_files = manifest.files();
    summary.media_bytes = manifest.bytes();
    manifest.finish(header, signer);
    if (manifest.names_not_representable()) summary.counts["name_not_on_media"] += manifest.names_not_representable();
  } catch (const std::exception& error) {
    return base::fail("export_failed", error.what());
  }
  summary.elapsed = std::chrono::steady_clock::now() - started;
  return summary;
}

}  // namespace medgw::media
