#include <backupstore/repository.hpp>

#include <base/private_file.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::backup {
namespace {

constexpr std::string_view config_format = "medgw-backup-repository/1";

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

void make_folder(const std::filesystem::path& folder) {
  if (::mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create " + folder.string());
}

std::string random_hex(std::size_t bytes) {
  std::vector<std::uint8_t> random(bytes);
  crypto::random_bytes(random);
  return base::to_hex(random);
}

// Gives `temporary` the name `target` without ever replacing a file.
void link_no_replace(const std::filesystem::path& temporary, const std::filesystem::path& target) {
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) return;
  if (errno == EEXIST) throw std::system_error(EEXIST, std::generic_category(), target.string() + " exists");
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) throw_errno("cannot name " + target.string());
  // A filesystem without RENAME_NOREPLACE (some network shares): link() also
  // refuses an existing name.
  if (::link(temporary.c_str(), target.c_str()) != 0) throw_errno("cannot name " + target.string());
  ::unlink(temporary.c_str());
}

}  // namespace

std::string repository_config_text(const RepositoryConfig& config) {
  return std::string(config_format) + "\nid " + config.id + "\ncreated " + config.created + "\ngateway_key " +
         config.gateway_key + "\n";
}

std::optional<RepositoryConfig> parse_repository_config(std::string_view text) {
  if (!text.starts_with(std::string(config_format) + "\n")) return std::nullopt;
  RepositoryConfig config;
  std::istringstream lines{std::string(text)};
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) return std::nullopt;
    const std::string key = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    if (key == "id") config.id = value;
    else if (key == "created") config.created = value;
    else if (key == "gateway_key") config.gateway_key = value;
  }
  if (config.id.empty() || config.gateway_key.empty()) return std::nullopt;
  return config;
}

NewFile::NewFile(const std::filesystem::path& temporary_folder)
    : temporary_(temporary_folder / ("new-" + random_hex(12))) {
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot create a file in " + temporary_folder.string());
}

NewFile::~NewFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!published_) ::unlink(temporary_.c_str());
}

void NewFile::write(base::ByteView bytes) {
  hash_.update(bytes);
  size_ += bytes.size();
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write " + temporary_.string());
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
}

crypto::Digest256 NewFile::finish_hash() { return hash_.finish(); }

void NewFile::publish(const std::filesystem::path& target) {
  if (::fsync(fd_) != 0) throw_errno("cannot write " + temporary_.string());
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) throw_errno("cannot write " + temporary_.string());
  link_no_replace(temporary_, target);
  published_ = true;
  base::sync_directory(target.parent_path());
}

std::filesystem::path FolderRepository::secret_file(std::string_view repository_id) const {
  return root_ / "keys" / (std::string(repository_id) + ".age");
}

std::string pack_name_in_layout(std::string_view pack) {
  return "packs/" + std::string(pack.substr(0, 2)) + "/" + std::string(pack);
}

std::string snapshot_name_in_layout(std::string_view snapshot) { return "snapshots/" + std::string(snapshot) + ".age"; }

std::string pack_list_name_in_layout(std::string_view snapshot) {
  return "snapshots/" + std::string(snapshot) + ".packs";
}

std::filesystem::path FolderRepository::pack_file(std::string_view pack) const {
  return root_ / pack_name_in_layout(pack);
}

std::filesystem::path FolderRepository::snapshot_file(std::string_view snapshot) const {
  return root_ / snapshot_name_in_layout(snapshot);
}

std::filesystem::path FolderRepository::pack_list_file(std::string_view snapshot) const {
  return root_ / pack_list_name_in_layout(snapshot);
}

void FolderRepository::publish(NewFile& file, const std::string& name) const {
  const std::filesystem::path target = root_ / name;
  std::error_code ec;
  if (!std::filesystem::create_directory(target.parent_path(), ec) && ec) {
    throw std::system_error(ec, "cannot create " + target.parent_path().string());
  }
  file.publish(target);
}

std::optional<std::uint64_t> FolderRepository::file_size(const std::string& name) const {
  std::error_code ec;
  const auto size = std::filesystem::file_size(root_ / name, ec);
  if (ec) return std::nullopt;
  return static_cast<std::uint64_t>(size);
}

base::Result<std::optional<RepositoryConfig>> FolderRepository::read_config() const {
  std::ifstream in(config_file(), std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<RepositoryConfig>();
    return base::fail("repository_unreadable", "cannot read " + config_file().string() + ": " +
                                                   std::generic_category().message(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto config = parse_repository_config(text.str());
  if (!config) {
    return base::fail("not_a_repository", config_file().string() +
                                              " is not a medgw backup repository's config; give backup.repository "
                                              "an empty folder or a medgw repository");
  }
  return std::optional<RepositoryConfig>(std::move(*config));
}

base::Status FolderRepository::prepare() const {
  struct stat info {};
  if (::stat(root_.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return base::fail("repository_missing", "the backup repository folder " + root_.string() +
                                                " does not exist (is the backup disk mounted?); create it first");
  }
  try {
    for (const char* folder : {"keys", "packs", "snapshots", "tmp"}) make_folder(root_ / folder);
    base::sync_directory(root_);
  } catch (const std::system_error& error) {
    return base::fail(repository_error(error, "the repository's folders"));
  }
  return {};
}

std::unique_ptr<NewFile> FolderRepository::new_file() const { return std::make_unique<NewFile>(root_ / "tmp"); }

void FolderRepository::remove_temporaries() const {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ / "tmp", ec)) {
    if (entry.path().filename().string().starts_with("new-")) std::filesystem::remove(entry.path(), ec);
  }
}

std::vector<std::string> FolderRepository::snapshot_ids(bool with_pack_lists) const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ / "snapshots", ec)) {
    const std::string name = entry.path().filename().string();
    const auto dot = name.rfind('.');
    if (dot == std::string::npos) continue;
    const std::string extension = name.substr(dot);
    if (extension == ".age" || (with_pack_lists && extension == ".packs")) ids.push_back(name.substr(0, dot));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

base::Error repository_error(const std::system_error& error, std::string_view what) {
  const int code = error.code().value();
  if (code == ENOSPC || code == EDQUOT) {
    return {"disk_full", "the backup repository's disk is full while writing " + std::string(what) +
                             "; nothing half-written is visible; free space (or give a larger disk) and run the "
                             "backup again"};
  }
  return {"io_error", "backup repository: " + std::string(what) + ": " + error.what()};
}

}  // namespace medgw::backup
