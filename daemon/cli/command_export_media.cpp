// medgw export-media: offline viewer media for disasters (daemon/media), and
// --verify of a medium against its signed manifest.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/media/exporter.hpp>
#include <daemon/media/manifest.hpp>
#include <daemon/media/storage_reader.hpp>
#include <daemon/backup/repository_reader.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <crypto/random.hpp>
#include <crypto/signing.hpp>

#include <base/private_file.hpp>

#include <medgw/build_info.hpp>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::string_view name = "medgw export-media";
constexpr std::size_t min_passphrase = 12;

media::MediaFormat format_of(const Invocation& invocation) {
  const std::string format = invocation.value("format");
  if (format == "iso") return media::MediaFormat::iso;
  if (format == "zip") return media::MediaFormat::zip;
  if (format == "dir") return media::MediaFormat::dir;
  if (!format.empty()) throw UsageError("--format must be iso, zip or dir, not '" + format + "'");
  const std::string out = invocation.value("out");
  if (out.ends_with(".iso") || out.ends_with(".ISO")) return media::MediaFormat::iso;
  if (out.ends_with(".zip") || out.ends_with(".ZIP")) return media::MediaFormat::zip;
  return media::MediaFormat::dir;
}

std::set<std::string> read_patient_list(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw UsageError("cannot read the patient list " + file);
  std::set<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::string id = line.substr(start);
    if (id.find('/') != std::string::npos || id == "." || id == "..") {
      throw UsageError(file + ": a line is not a patient ID (no '/' allowed)");
    }
    ids.insert(id);
  }
  if (ids.empty()) throw UsageError(file + " lists no patient ID");
  return ids;
}

std::string parse_since(const std::string& text) {
  std::string digits;
  for (char c : text) {
    if (c != '-') digits.push_back(c);
  }
  const bool ok = digits.size() == 8 && digits.find_first_not_of("0123456789") == std::string::npos &&
                  (text.size() == 8 || (text.size() == 10 && text[4] == '-' && text[7] == '-'));
  if (!ok) throw UsageError("--since must be a date YYYY-MM-DD, not '" + text + "'");
  return digits;
}

base::SecureString read_passphrase(const std::string& file) {
  const base::SecureBytes content = base::read_private_file(file);
  std::string_view text = base::as_chars(content);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.size() < min_passphrase) {
    throw UsageError(file + ": the passphrase must have at least " + std::to_string(min_passphrase) + " characters");
  }
  return base::SecureString(text);
}

// 25 characters of an alphabet without look-alikes (125 bits), in groups of 5.
base::SecureString generate_passphrase() {
  constexpr std::string_view alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  base::SecureBytes random(25);
  crypto::random_bytes(random);
  base::SecureString out;
  for (std::size_t i = 0; i < random.size(); ++i) {
    if (i > 0 && i % 5 == 0) out.push_back('-');
    out.push_back(alphabet[random[i] % alphabet.size()]);
  }
  return out;
}

std::string mib(std::uint64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return out.str();
}

bool is_notice(std::string_view kind) {
  return kind == "superseded" || kind == "deleted" || kind == "out_of_period";
}

void print_summary(std::ostream& out, const media::ExportOptions& options, const media::ExportSummary& summary,
                   const crypto::SigningKey& signer) {
  static constexpr std::string_view formats[] = {"iso", "zip", "dir"};
  out << "wrote " << options.out.string() << " (" << formats[static_cast<int>(options.format)] << ", "
      << (options.encrypt ? "encrypted" : "NOT encrypted") << ")\n"
      << "  patients:     " << summary.patients << "\n"
      << "  source files: " << summary.source_files << " (" << mib(summary.source_bytes) << ")\n"
      << "  media files:  " << summary.media_files << " (" << mib(summary.media_bytes) << ") + MANIFEST.JSON, "
      << "MANIFEST.SIG signed by " << signer.public_key_text() << "\n"
      << "  time:         " << std::fixed << std::setprecision(1) << summary.elapsed.count() << " s\n";
  std::string problems;
  std::string notices;
  for (const auto& [kind, count] : summary.counts) {
    std::string& list = is_notice(kind) ? notices : problems;
    list += (list.empty() ? "" : ", ") + kind + " " + std::to_string(count);
  }
  out << "  problems:     " << (problems.empty() ? "none" : problems) << "\n";
  if (!problems.empty()) out << "                (the export went on: the viewer lists what it could not show)\n";
  out << "  notices:      " << (notices.empty() ? "none" : notices) << "\n";
}

int verify(Invocation& invocation) {
  std::string signer = invocation.value("signer");
  struct stat info {};
  const bool have_config = invocation.has("config") || ::stat(invocation.config_path().c_str(), &info) == 0;
  if (signer.empty() && have_config) {  // this gateway's key, when there is one
    const auto config = load_config_reporting(invocation.config_path(), config_schema(), *invocation.err);
    if (!config) return exit_usage;
    if (::stat((config->state_dir / "signing.key").c_str(), &info) == 0) {
      signer = crypto::SigningKey::load_or_create(config->state_dir / "signing.key").public_key_text();
    }
  }
  auto report = media::verify_media(invocation.value("verify"), signer);
  if (!report) {
    *invocation.err << name << ": " << report.error().message << "\n";
    return exit_failure;
  }
  for (const std::string& problem : report->problems) *invocation.err << name << ": " << problem << "\n";
  *invocation.out << invocation.value("verify") << ": " << report->files << " files, made " << report->created
                  << " from " << report->origin << ", signed by " << report->signer
                  << (report->problems.empty() ? ": verified\n" : ": NOT verified\n");
  return report->problems.empty() ? exit_ok : exit_failure;
}

media::ExportOptions export_options(const Invocation& invocation, const Config& config) {
  media::ExportOptions options;
  options.out = invocation.value("out");
  if (options.out.empty()) throw UsageError("give --out PATH (an .iso or .zip file, or a folder)");
  options.format = format_of(invocation);
  options.encrypt = !invocation.has("no-encrypt");
  if (!options.encrypt && invocation.has("passphrase-file")) {
    throw UsageError("--no-encrypt and --passphrase-file contradict each other");
  }
  if (invocation.has("patients")) options.patients = read_patient_list(invocation.value("patients"));
  if (invocation.has("since")) options.since = parse_since(invocation.value("since"));
  options.title = invocation.has("title") ? invocation.value("title") : config.facility.name;
  options.replace = invocation.has("force");
  options.facility_code = config.facility.code;
  options.facility_name = config.facility.name;
  options.medgw_version = std::string(build_info::version);
  return options;
}

// The passphrase: from its file, or made here and shown once on a terminal.
void choose_passphrase(const Invocation& invocation, media::ExportOptions& options) {
  if (!options.encrypt) return;
  if (invocation.has("passphrase-file")) {
    options.passphrase = read_passphrase(invocation.value("passphrase-file"));
    return;
  }
  if (::isatty(STDOUT_FILENO) == 0) {
    throw UsageError("give --passphrase-file FILE (or --no-encrypt): a generated passphrase is shown only on a "
                     "terminal, never into a log");
  }
  options.passphrase = generate_passphrase();
  *invocation.out << "passphrase (hand it over apart from the media; it is stored nowhere):\n\n    "
                  << std::string_view(options.passphrase) << "\n\n";
}

void show_progress(const media::ExportProgress& progress) {
  static auto last = std::chrono::steady_clock::time_point{};
  const auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(200)) return;
  last = now;
  std::cerr << "\r" << name << ": " << progress.patients << " patients, " << progress.files << " files, "
            << mib(progress.bytes) << "   " << std::flush;
}

// A snapshot of backup.repository, read with --identity (the recovery key).
base::Result<std::unique_ptr<media::StorageReader>> open_backup(Invocation& invocation, const Config& config) {
  if (config.backup.repository.empty()) {
    throw UsageError("--from backup: backup.repository is not set in " + config.origin.string());
  }
  if (!invocation.has("identity")) throw UsageError("--from backup needs --identity FILE (the recovery key)");
  const std::vector<std::string>& given = invocation.values("identity");
  auto identities = backup::load_identities(std::vector<std::filesystem::path>(given.begin(), given.end()));
  if (!identities) throw UsageError(identities.error().message);
  return media::open_backup_reader(config.backup.repository, std::move(*identities),
                                   invocation.value("snapshot", "latest"));
}

int export_to_media(Invocation& invocation) {
  const std::string from = invocation.value("from", "sources");
  if (from != "sources" && from != "backup") throw UsageError("--from must be sources or backup, not '" + from + "'");
  if (from == "sources" && (invocation.has("identity") || invocation.has("snapshot"))) {
    throw UsageError("--identity and --snapshot go with --from backup");
  }
  const auto config = load_config_reporting(invocation.config_path(), config_schema(), *invocation.err);
  if (!config) return exit_usage;
  media::ExportOptions options = export_options(invocation, *config);
  auto reader = from == "backup" ? open_backup(invocation, *config) : media::open_sources_reader(*config);
  if (!reader) {
    *invocation.err << name << ": " << reader.error().message << "\n";
    return reader.error().code == "no_ssmix2_source" ? exit_usage : exit_failure;
  }
  choose_passphrase(invocation, options);
  std::filesystem::create_directories(config->state_dir);
  const auto signer = crypto::SigningKey::load_or_create(config->state_dir / crypto::SigningKey::file_name);
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  if (terminal) options.progress = show_progress;
  auto summary = media::export_media(**reader, options, signer);
  if (terminal) std::cerr << "\r" << std::string(72, ' ') << "\r" << std::flush;
  if (!summary) {
    *invocation.err << name << ": " << summary.error().message << "\n";
    return summary.error().code == "target" ? exit_usage : exit_failure;
  }
  print_summary(*invocation.out, options, *summary, signer);
  return exit_ok;
}

}  // namespace

int command_export_media(Invocation& invocation) {
  try {
    if (invocation.has("verify")) return verify(invocation);
    return export_to_media(invocation);
  } catch (const UsageError& error) {
    *invocation.err << name << ": " << error.what() << "\n";
    return exit_usage;
  } catch (const std::exception& error) {
    *invocation.err << name << ": " << error.what() << "\n";
    return exit_failure;
  }
}

}  // namespace medgw::daemon
