// medgw backup run | list | verify | restore: the hospital's write-only
// encrypted backup (daemon/backup, docs/backup.md).
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <daemon/backup/backup_run.hpp>
#include <backupstore/forget.hpp>
#include <daemon/backup/restore.hpp>
#include <daemon/backup/verify.hpp>

#include <base/human_size.hpp>
#include <base/log.hpp>

#include <charconv>
#include <cstdio>
#include <iomanip>
#include <ostream>

#include <sys/stat.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

// The repository: --repository, else backup.repository of the config (then
// `config` is set).
std::optional<std::filesystem::path> repository_of(Invocation& invocation, std::optional<Config>& config,
                                                   std::string_view command) {
  std::ostream& err = *invocation.err;
  if (invocation.has("repository")) return std::filesystem::path(invocation.value("repository"));
  config = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!config) return std::nullopt;
  if (config->backup.repository.empty()) {
    err << "medgw backup " << command << ": backup.repository is not set in " << config->origin.string()
        << "; set it, or give --repository DIR\n";
    return std::nullopt;
  }
  if (config->backup.repository.starts_with("https://")) {
    // Write-only: the gateway never reads the central's copy back.
    err << "medgw backup " << command << ": backup.repository is the central's backup endpoint ("
        << config->backup.repository
        << "); list, verify and retention run at the central (medgw-receiver backup list|verify|forget --facility "
           "CODE); to restore, have the central's operator hand over the facility's repository folder and give "
           "--repository DIR\n";
    return std::nullopt;
  }
  return std::filesystem::path(config->backup.repository);
}

void print_progress(const backup::BackupProgress& progress) {
  std::fprintf(stderr, "\r%llu files, %llu read (%s), %s added   ",
               static_cast<unsigned long long>(progress.files_seen),
               static_cast<unsigned long long>(progress.files_read), base::human_size(progress.bytes_read).c_str(),
               base::human_size(progress.bytes_added).c_str());
  std::fflush(stderr);
}

bool inside(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  const std::string a = (std::filesystem::absolute(inner) / "").lexically_normal().string();
  const std::string b = (std::filesystem::absolute(outer) / "").lexically_normal().string();
  return a.starts_with(b) || b.starts_with(a);
}

}  // namespace

int command_backup_run(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> config = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!config) return exit_usage;
  ::mkdir(config->state_dir.c_str(), 0700);
  std::optional<crypto::SigningKey> signer;
  try {
    signer.emplace(crypto::SigningKey::load_or_create(config->state_dir / crypto::SigningKey::file_name));
  } catch (const std::exception& error) {
    err << "medgw backup run: " << error.what() << "\n";
    return exit_failure;
  }
  auto settings = backup::backup_settings(*config, *signer);
  if (!settings) {
    err << "medgw backup run: " << settings.error().message << "\n";
    return exit_usage;
  }
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  backup::ProgressCallback progress;
  if (terminal) progress = print_progress;
  auto report = backup::run_backup(*settings, command_logger(*config, "backup"), progress);
  if (terminal) std::fputs("\r\033[K", stderr);
  if (!report) {
    err << "medgw backup run: " << report.error().message << " (" << report.error().code << ")\n";
    return exit_failure;
  }
  out << "snapshot " << report->snapshot << ": " << report->files << " files, " << base::human_size(report->bytes)
      << "; " << report->progress.files_read << " new or changed files read ("
      << base::human_size(report->progress.bytes_read) << "), " << base::human_size(report->progress.bytes_added)
      << " added in " << report->packs_written << " packs\n";
  if (report->unreadable + report->vanished + report->changed_while_read > 0) {
    out << "not in the snapshot: " << report->unreadable << " unreadable, " << report->vanished
        << " vanished; changing while read: " << report->changed_while_read << " (read again next time)\n";
  }
  return report->unreadable > 0 ? exit_failure : exit_ok;
}

int command_backup_list(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  std::optional<Config> config;
  const auto repository = repository_of(invocation, config, "list");
  if (!repository) return exit_usage;
  auto summaries = backup::summarize(backup::FolderRepository(*repository));
  if (!summaries) {
    err << "medgw backup list: " << summaries.error().message << "\n";
    return exit_failure;
  }
  backup::print_snapshot_table(out, *summaries);
  return exit_ok;
}

namespace {

// A whole number option; nullopt (after saying why) when it is not one.
std::optional<unsigned> count_option(Invocation& invocation, const std::string& name, std::string_view command) {
  if (!invocation.has(name)) return 0U;
  const std::string& text = invocation.value(name);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 100000) {
    *invocation.err << "medgw backup " << command << ": --" << name << " " << text
                    << ": give a whole number, e.g. 7\n";
    return std::nullopt;
  }
  return value;
}

}  // namespace

int command_backup_forget(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const auto daily = count_option(invocation, "keep-daily", "forget");
  const auto monthly = count_option(invocation, "keep-monthly", "forget");
  if (!daily || !monthly) return exit_usage;
  backup::ForgetPolicy policy{*daily, *monthly, invocation.has("dry-run")};
  if (policy.keep_daily == 0 && policy.keep_monthly == 0) {
    err << "medgw backup forget: give --keep-daily N and/or --keep-monthly N (at least one above 0), e.g. "
           "--keep-daily 7 --keep-monthly 12; forget never removes every snapshot\n";
    return exit_usage;
  }
  std::optional<Config> config;
  const auto repository = repository_of(invocation, config, "forget");
  if (!repository) return exit_usage;
  auto report = backup::forget_snapshots(backup::FolderRepository(*repository), policy,
                                         [&](const std::string& note) { out << "NOTE " << note << "\n"; });
  if (!report) {
    err << "medgw backup forget: " << report.error().message << "\n";
    return exit_failure;
  }
  backup::print_forget_report(out, *report, policy.dry_run);
  return exit_ok;
}

int command_backup_verify(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  backup::VerifyOptions options;
  if (invocation.has("read-data")) {
    const std::string& text = invocation.value("read-data");
    const std::string digits = text.ends_with('%') ? text.substr(0, text.size() - 1) : text;
    unsigned percent = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || percent < 1 || percent > 100) {
      err << "medgw backup verify: --read-data " << text << ": give a whole percentage from 1 to 100, e.g. 10\n";
      return exit_usage;
    }
    options.read_data_percent = percent;
  }
  std::optional<Config> config;
  const auto repository = repository_of(invocation, config, "verify");
  if (!repository) return exit_usage;
  std::optional<backup::RepositoryReader> reader;
  if (invocation.has("identity")) {
    std::vector<std::filesystem::path> files(invocation.values("identity").begin(), invocation.values("identity").end());
    auto identities = backup::load_identities(files);
    if (!identities) {
      err << "medgw backup verify: " << identities.error().message << "\n";
      return exit_usage;
    }
    auto opened = backup::RepositoryReader::open(*repository, std::move(*identities));
    if (!opened) {
      err << "medgw backup verify: " << opened.error().message << "\n";
      return exit_failure;
    }
    reader.emplace(std::move(*opened));
  }
  auto report = backup::verify_repository(backup::FolderRepository(*repository), reader ? &*reader : nullptr,
                                          [&](const std::string& problem) { out << "PROBLEM " << problem << "\n"; },
                                          options);
  if (!report) {
    err << "medgw backup verify: " << report.error().message << "\n";
    return exit_failure;
  }
  out << (report->problems == 0 ? "OK " : "FAILED ") << report->snapshots << " snapshots, " << report->packs
      << " packs checked"
      << (options.read_data_percent < 100
              ? " (the data of " + std::to_string(report->packs_read) + " read: --read-data " +
                    std::to_string(options.read_data_percent) + "%)"
              : "")
      << (reader ? ", " + std::to_string(report->blobs) + " blobs decrypted and checked" : "")
      << (report->problems == 0 ? "" : "; " + std::to_string(report->problems) + " problems") << "\n";
  return report->problems == 0 ? exit_ok : exit_failure;
}

int command_backup_restore(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  if (!invocation.has("target")) {
    err << "medgw backup restore: --target DIR is required: the (empty) folder to restore into\n";
    return exit_usage;
  }
  if (invocation.has("path") && invocation.has("patient")) {
    err << "medgw backup restore: give --path or --patient, not both\n";
    return exit_usage;
  }
  std::optional<Config> config;
  const auto repository = repository_of(invocation, config, "restore");
  if (!repository) return exit_usage;
  backup::RestoreOptions options{invocation.value("snapshot", "latest"), invocation.value("path"),
                                 invocation.value("patient"), invocation.value("target"), invocation.has("force")};
  if (config) {  // never into a source or the gateway's state
    const SourcePlan plan(*config);
    for (const SourcePass& pass : plan.passes()) {
      if (!pass.root.empty() && inside(options.target, pass.root)) {
        err << "medgw backup restore: --target overlaps the source " << pass.label
            << "; restore elsewhere (medgw never writes into a source)\n";
        return exit_usage;
      }
    }
    if (inside(options.target, config->state_dir) || inside(options.target, *repository)) {
      err << "medgw backup restore: --target overlaps state_dir or the repository; restore elsewhere\n";
      return exit_usage;
    }
  }
  std::vector<std::filesystem::path> files(invocation.values("identity").begin(), invocation.values("identity").end());
  auto identities = backup::load_identities(files);
  if (!identities) {
    err << "medgw backup restore: " << identities.error().message << "\n";
    return exit_usage;
  }
  auto reader = backup::RepositoryReader::open(*repository, std::move(*identities));
  if (!reader) {
    err << "medgw backup restore: " << reader.error().message << "\n";
    return exit_failure;
  }
  auto report = backup::restore_snapshot(*reader, options, [&](const std::string& problem) {
    err << "medgw backup restore: " << problem << "\n";
  });
  if (!report) {
    err << "medgw backup restore: " << report.error().message << "\n";
    return report.error().code.starts_with("target") ? exit_usage : exit_failure;
  }
  out << "snapshot " << report->snapshot << ": restored " << report->files << " files ("
      << base::human_size(report->bytes) << ")";
  if (report->damaged > 0) out << "; " << report->damaged << " files could not be restored (see above)";
  if (!report->snapshot_complete) out << "; the snapshot is damaged: files it lists after that point are missing";
  out << "\n";
  return report->damaged == 0 && report->snapshot_complete ? exit_ok : exit_failure;
}

}  // namespace medgw::daemon
