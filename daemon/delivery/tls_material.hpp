#pragma once
// The TLS credentials of requests to the central, held in memory (issue 22,
// docs/certificates.md): the central's CA certificates (central.ca), its
// CRLs (central.crl), and this gateway's certificate chain and key
// (central.cert, central.key, opened with central.key_password_file).
//
// A TlsMaterial is one immutable set of them. A TlsMaterialSource holds the
// one in force and re-reads the files when their (mtime, size, inode)
// change - looked at, at most once per check interval, when a request is set
// up - so that a renewed certificate or a new CA or CRL is used by the next
// new connection without a restart; a connection already open keeps what it
// was made with. A file that changed but does not load keeps the old
// material in force (logged as cert.reload_failed).
//
// Each new connection gets its material through CURLOPT_SSL_CTX_FUNCTION:
// the trust store is replaced by one holding only the configured CAs (and
// the CRLs, checked for every certificate of the chain), the client
// certificate, its chain and key are set from memory. libcurl's CA cache and
// TLS session cache are off, so nothing older than the material is reused.
#include <daemon/delivery/pem.hpp>

#include <base/log.hpp>
#include <base/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <curl/curl.h>
#include <openssl/ssl.h>

namespace medgw::daemon {

struct TlsFiles {
  std::filesystem::path ca;
  std::filesystem::path crl;   // empty: no CRL
  std::filesystem::path cert;  // empty (with key): no client certificate, as for enrollment
  std::filesystem::path key;
  std::string key_password;    // empty: the key is not encrypted
};

class TlsMaterial {
 public:
  // Reads and checks the files; the error names the file and what is wrong.
  [[nodiscard]] static base::Result<std::shared_ptr<const TlsMaterial>> load(const TlsFiles& files);

  // Puts the material into a new connection's SSL_CTX; false on failure.
  [[nodiscard]] bool configure(SSL_CTX* context) const;

  [[nodiscard]] const Certificates& authorities() const noexcept { return authorities_; }
  [[nodiscard]] std::size_t crl_count() const noexcept { return crls_.size(); }
  // The client certificate first, then its chain (empty without one).
  [[nodiscard]] const Certificates& chain() const noexcept { return chain_; }
  [[nodiscard]] EVP_PKEY* key() const noexcept { return key_.get(); }

 private:
  Certificates authorities_;
  std::vector<base::openssl::X509Crl> crls_;
  Certificates chain_;
  base::openssl::Pkey key_;
};

// What tells that a file changed on disk; all zero when it is missing.
struct FileStamp {
  std::int64_t mtime_ns = 0;
  std::uintmax_t size = 0;
  std::uintmax_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};
[[nodiscard]] FileStamp file_stamp(const std::filesystem::path& file);

class TlsMaterialSource {
 public:
  static constexpr std::chrono::milliseconds default_check_interval{5000};

  TlsMaterialSource(TlsFiles files, log::Logger logger,
                    std::chrono::milliseconds check_interval = default_check_interval);
  TlsMaterialSource(const TlsMaterialSource&) = delete;
  TlsMaterialSource& operator=(const TlsMaterialSource&) = delete;

  // The material in force, re-read first when the check interval has passed
  // and a file changed. Fails only when none could ever be loaded.
  [[nodiscard]] base::Result<std::shared_ptr<const TlsMaterial>> current();
  // The next current() looks at the files whatever the interval (after a
  // renewal replaced them).
  void check_soon();
  // How many times changed files were loaded (not counting the first load).
  [[nodiscard]] std::uint64_t reloads() const;

  // Makes `easy`'s next connection use the material in force: refreshes it
  // (current()) and sets CURLOPT_SSL_CTX_FUNCTION. The source must outlive
  // the handle.
  void apply(CURL* easy);

 private:
  using Stamps = std::array<FileStamp, 4>;
  static CURLcode on_ssl_context(CURL* easy, void* ssl_context, void* self);
  [[nodiscard]] Stamps stamps() const;

  const TlsFiles files_;
  const log::Logger logger_;
  const std::chrono::milliseconds check_interval_;
  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<const TlsMaterial> material_;
  base::Error load_error_;
  Stamps stamps_{};
  std::chrono::steady_clock::time_point checked_at_{};
  bool checked_ = false;
  std::uint64_t reloads_ = 0;
};

}  // namespace medgw::daemon
