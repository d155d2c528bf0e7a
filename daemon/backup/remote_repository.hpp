#pragma once
// The central's write-once backup endpoint as a backup repository
// (`backup.repository: https://…`, docs/backup.md "At the central"): the
// same layout as a folder repository, each file sent with one PUT over the
// mutual TLS of `central` (its HttpProfile), at most central.bandwidth.
//
//   GET  <url>config            the repository's config (404: none yet)
//   HEAD <url><name>            exists, Backup-Size: its size
//   PUT  <url><name>            write once: 201 stored, 200 the same bytes
//                               were there already, 409 a different file
//                               has the name, 507 the facility's quota
//   PUT / DELETE <url>locks/run-<hex>   the run's lease (no data)
//
// A file is written whole to state_dir/backup/outgoing/ first (a pack, 16-32
// MiB; a snapshot), then sent; the temporary goes once the central has it.
// Transient failures (no connection, 5xx, 429) are retried a few times, then
// the run fails ("repository_unreachable") and the next run goes on.
#include <backupstore/repository.hpp>

#include <daemon/delivery/http_profile.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace medgw::backup {

struct RemoteSettings {
  std::string url;  // ends with '/'
  daemon::HttpProfile profile;
  std::uint64_t bandwidth = 0;  // bytes/s, 0 = no cap
  std::filesystem::path outgoing;  // state_dir/backup/outgoing
  // Waits between the attempts of one request (tests shorten them).
  std::chrono::milliseconds retry_wait{2000};
  unsigned attempts = 4;
};

class RemoteRepository final : public RepositoryTarget {
 public:
  explicit RemoteRepository(RemoteSettings settings);
  ~RemoteRepository() override;
  RemoteRepository(const RemoteRepository&) = delete;
  RemoteRepository& operator=(const RemoteRepository&) = delete;

  [[nodiscard]] std::string where() const override { return settings_.url; }
  [[nodiscard]] base::Result<std::optional<RepositoryConfig>> read_config() const override;
  [[nodiscard]] base::Status prepare() const override;
  [[nodiscard]] std::unique_ptr<NewFile> new_file() const override;
  void publish(NewFile& file, const std::string& name) const override;
  [[nodiscard]] std::optional<std::uint64_t> file_size(const std::string& name) const override;
  void remove_temporaries() const override;
  [[nodiscard]] base::Result<std::unique_ptr<RunLease>> lease_for_run() const override;

  struct Reply {
    long status = 0;           // 0: no answer (transport failure)
    std::string body;          // the first 64 KiB
    std::string error;         // curl's message when status is 0
    std::optional<std::uint64_t> size;  // a HEAD's Backup-Size
  };
  enum class Method { get, head, put, del };
  // One request with retries of transient failures (`retry`); `body` (PUT)
  // is a file, else `text` is sent.
  [[nodiscard]] Reply request(Method method, const std::string& name, const std::filesystem::path* body = nullptr,
                              std::string_view text = {}, bool retry = true) const;

 private:
  [[nodiscard]] Reply attempt(Method method, const std::string& name, const std::filesystem::path* body,
                              std::string_view text) const;

  RemoteSettings settings_;
  struct Handle;
  std::unique_ptr<Handle> handle_;  // one connection, reused
};

// The error a central's reply means, naming `what` (a layout name: no
// patient) and saying what to do.
[[nodiscard]] base::Error remote_error(const RemoteRepository::Reply& reply, std::string_view what,
                                       std::string_view where);

}  // namespace medgw::backup
