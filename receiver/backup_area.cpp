#include <receiver/backup_area.hpp>

#include <receiver/files.hpp>
#include <receiver/identifiers.hpp>

#include <backupstore/repository_lock.hpp>

#include <base/hex.hpp>
#include <base/text.hpp>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>

namespace medgw::receiver {
namespace {

bool hex_of_size(std::string_view text, std::size_t size) { return text.size() == size && base::all_lower_hex(text); }

// <uuid><suffix>, the uuid canonical (snapshot ids, repository ids).
bool uuid_then(std::string_view text, std::string_view suffix) {
  return text.ends_with(suffix) && is_canonical_uuid(text.substr(0, text.size() - suffix.size()));
}

std::uint64_t count_bytes(const std::filesystem::path& root) {
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it.depth() == 0 && it->is_directory() && (name == "tmp" || name == "locks")) {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code size_error;
    if (it->is_regular_file(size_error)) {
      const auto size = it->file_size(size_error);
      if (!size_error) bytes += size;
    }
  }
  return bytes;
}

}  // namespace

std::optional<BackupName> backup_name_kind(std::string_view name) {
  if (name == "config") return BackupName::config;
  if (name.starts_with("keys/")) {
    // keys/<repository id>.<16 hex>.age
    const std::string_view rest = name.substr(5);
    if (rest.size() == 36 + 1 + 16 + 4 && rest.ends_with(".age") && rest[36] == '.' &&
        is_canonical_uuid(rest.substr(0, 36)) && hex_of_size(rest.substr(37, 16), 16)) {
      return BackupName::key;
    }
    return std::nullopt;
  }
  if (name.starts_with("packs/")) {
    const std::string_view rest = name.substr(6);  // <2 hex>/<32 hex>
    if (rest.size() == 2 + 1 + 32 && rest[2] == '/' && hex_of_size(rest.substr(3), 32) &&
        rest.substr(0, 2) == rest.substr(3, 2)) {
      return BackupName::pack;
    }
    return std::nullopt;
  }
  if (name.starts_with("snapshots/")) {
    const std::string_view rest = name.substr(10);
    if (uuid_then(rest, ".packs")) return BackupName::pack_list;
    if (uuid_then(rest, ".age")) return BackupName::snapshot;
    return std::nullopt;
  }
  if (name.starts_with("locks/run-")) {
    const std::string_view rest = name.substr(10);
    if (rest.size() >= 16 && rest.size() <= 64 && rest.size() % 2 == 0 && base::all_lower_hex(rest)) {
      return BackupName::lease;
    }
  }
  return std::nullopt;
}

BackupArea::BackupArea(std::filesystem::path dir, std::uint64_t quota) : dir_(std::move(dir)), quota_(quota) {}

backup::FolderRepository BackupArea::repository(const std::string& facility) const {
  return backup::FolderRepository(dir_ / facility);
}

void BackupArea::remove_temporaries() const {
  std::error_code ec;
  for (const auto& facility : std::filesystem::directory_iterator(dir_, ec)) {
    if (facility.is_directory(ec)) backup::FolderRepository(facility.path()).remove_temporaries();
  }
}

std::uint64_t BackupArea::used(const std::string& facility) {
  {
    const std::lock_guard lock(mutex_);
    const auto found = usage_.find(facility);
    if (found != usage_.end() && std::chrono::steady_clock::now() - found->second.counted < recount_after) {
      return found->second.bytes;
    }
  }
  const std::uint64_t bytes = count_bytes(dir_ / facility);
  const std::lock_guard lock(mutex_);
  usage_[facility] = {bytes, std::chrono::steady_clock::now()};
  return bytes;
}

std::unique_ptr<backup::NewFile> BackupArea::receive(const std::string& facility) {
  const std::filesystem::path root = dir_ / facility;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) throw std::system_error(ec, "cannot create the facility's backup folder");
  if (const base::Status ready = repository(facility).prepare(); !ready) {
    throw std::system_error(std::make_error_code(std::errc::io_error), ready.error().message);
  }
  return repository(facility).new_file();
}

BackupArea::Stored BackupArea::store(const std::string& facility, const std::string& name, backup::NewFile& file) {
  const std::string digest = base::to_hex(file.finish_hash());
  try {
    repository(facility).publish(file, name);
  } catch (const std::system_error& error) {
    if (error.code().value() != EEXIST) throw;
    const auto existing = sha256_of_file(dir_ / facility / name);
    return existing && *existing == digest ? Stored::same : Stored::conflict;
  }
  const std::lock_guard lock(mutex_);
  if (const auto found = usage_.find(facility); found != usage_.end()) found->second.bytes += file.size();
  return Stored::created;
}

std::optional<std::uint64_t> BackupArea::size_of(const std::string& facility, const std::string& name) const {
  return repository(facility).file_size(name);
}

std::optional<std::string> BackupArea::read_clear(const std::string& facility, const std::string& name) const {
  const auto size = size_of(facility, name);
  if (!size || *size > (1 << 20)) return std::nullopt;
  std::ifstream in(dir_ / facility / name, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool BackupArea::hold_lease(const std::string& facility, const std::string& name) {
  const std::filesystem::path marker = dir_ / facility / name;
  if (::utimensat(AT_FDCWD, marker.c_str(), nullptr, 0) == 0) return true;  // renewed
  std::error_code ec;
  std::filesystem::create_directories(dir_ / facility, ec);
  if (ec) throw std::system_error(ec, "cannot create the facility's backup folder");
  auto lock = backup::RepositoryLock::take(repository(facility), backup::RepositoryLock::Kind::run,
                                           backup::RepositoryLock::default_stale_after,
                                           std::string_view(name).substr(std::string_view("locks/run-").size()));
  if (!lock) {
    if (lock.error().code == "repository_busy") return false;
    throw std::system_error(std::make_error_code(std::errc::io_error), lock.error().message);
  }
  lock->keep();
  return true;
}

void BackupArea::drop_lease(const std::string& facility, const std::string& name) {
  std::error_code ec;
  std::filesystem::remove(dir_ / facility / name, ec);
}

}  // namespace medgw::receiver
