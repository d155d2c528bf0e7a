// medgw-receiver backup list|forget: the facilities' backups at the central,
// with their clear parts only (the central holds no key that decrypts them).
#include <receiver/backup_area.hpp>
#include <receiver/commands.hpp>

#include <backupstore/forget.hpp>
#include <backupstore/pack_list.hpp>

#include <base/human_size.hpp>

#include <iostream>

namespace medgw::receiver {
namespace {

// The facility's repository, or nullopt after saying why not.
std::optional<backup::FolderRepository> facility_repository(const ReceiverConfig& config, const std::string& facility,
                                                            std::string_view command) {
  if (config.backup_dir.empty()) {
    std::cerr << "medgw-receiver backup " << command
              << ": receiver.yaml has no backup.dir: this central keeps no backups\n";
    return std::nullopt;
  }
  if (config.facility(facility) == nullptr) {
    std::cerr << "medgw-receiver backup " << command << ": facility " << facility
              << " is not listed in receiver.yaml\n";
    return std::nullopt;
  }
  BackupArea area(config.backup_dir, config.backup_quota);
  auto repository = area.repository(facility);
  std::error_code ec;
  if (!std::filesystem::exists(repository.config_file(), ec)) {
    std::cerr << "medgw-receiver backup " << command << ": facility " << facility
              << " has not sent a backup yet (no repository under " << repository.root().string() << ")\n";
    return std::nullopt;
  }
  return repository;
}

}  // namespace

int command_backup_list(const ReceiverConfig& config, const std::string& facility) {
  const auto repository = facility_repository(config, facility, "list");
  if (!repository) return 1;
  auto summaries = backup::summarize(*repository);
  if (!summaries) {
    std::cerr << "medgw-receiver backup list: " << summaries.error().message << "\n";
    return 1;
  }
  backup::print_snapshot_table(std::cout, *summaries);
  BackupArea area(config.backup_dir, config.backup_quota);
  std::cout << "facility " << facility << ": " << base::human_size(area.used(facility)) << " of its quota "
            << base::human_size(config.backup_quota) << "\n";
  return 0;
}

int command_backup_forget(const ReceiverConfig& config, const std::string& facility, unsigned keep_daily,
                          unsigned keep_monthly, bool dry_run) {
  if (keep_daily == 0 && keep_monthly == 0) {
    std::cerr << "medgw-receiver backup forget: give --keep-daily N and/or --keep-monthly N (at least one above 0); "
                 "forget never removes every snapshot\n";
    return 2;
  }
  const auto repository = facility_repository(config, facility, "forget");
  if (!repository) return 1;
  const backup::ForgetPolicy policy{keep_daily, keep_monthly, dry_run};
  auto report = backup::forget_snapshots(*repository, policy,
                                         [](const std::string& note) { std::cout << "NOTE " << note << "\n"; });
  if (!report) {
    std::cerr << "medgw-receiver backup forget: " << report.error().message << "\n";
    return 1;
  }
  backup::print_forget_report(std::cout, *report, dry_run);
  return 0;
}

}  // namespace medgw::receiver
