#pragma once
// What the enrollment service remembers (data_dir/enrollment.db, SQLite,
// its own file beside receiver.db): one-time tickets, stored only as a
// SHA-256 of the ticket, and every certificate issued or revoked, by serial.
// The operator's commands (ticket, revoke, certs) write it from another
// process; the running receiver sees their changes through data_version.
// Every method takes the one lock.
#include <receiver/issuing_ca.hpp>

#include <base/sqlite.hpp>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace medgw::receiver {

struct CertificateRecord {
  std::string serial;    // upper-case hex
  std::string facility;  // empty for a serial revoked that this CA never issued
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  std::int64_t issued_ms = 0;
  std::string via;  // "ticket", "renewal", "revoked" (only known as revoked)
  std::int64_t revoked_ms = 0;  // 0: not revoked
};

enum class TicketUse { taken, unknown, used, expired, other_facility };

class EnrollmentRegistry {
 public:
  explicit EnrollmentRegistry(const std::filesystem::path& db_file);

  // A new ticket for `facility`, valid until `expires_ms`: its text (43
  // base64url characters). Only its SHA-256 is stored.
  [[nodiscard]] std::string add_ticket(const std::string& facility, std::int64_t now_ms, std::int64_t expires_ms);
  // Uses a ticket up (once: a second use finds it used), if it is `facility`'s
  // and not expired.
  [[nodiscard]] TicketUse take_ticket(const std::string& ticket, const std::string& facility, std::int64_t now_ms);
  // The certificate could not be made after the ticket was taken: usable again.
  void give_back_ticket(const std::string& ticket);

  void add_certificate(const CertificateRecord& record);
  [[nodiscard]] std::optional<CertificateRecord> certificate(const std::string& serial);
  [[nodiscard]] std::vector<CertificateRecord> certificates();
  // The facility's most recently issued certificate that is not revoked.
  [[nodiscard]] std::optional<std::string> newest_serial(const std::string& facility);
  // Revokes one serial (recorded even when this CA did not issue it); false
  // when it was revoked already.
  bool revoke_serial(const std::string& serial, std::int64_t now_ms);
  // Revokes every certificate of the facility; how many were revoked now.
  std::uint64_t revoke_facility(const std::string& facility, std::int64_t now_ms);
  [[nodiscard]] std::vector<RevokedSerial> revoked();
  // Changes when another connection (an operator's command) wrote the file.
  [[nodiscard]] std::int64_t data_version();

 private:
  std::mutex mutex_;
  base::Database db_;
};

// "3A0F..." from any hex spelling (lower case, colons, leading zeros), or
// nullopt when it is not a serial.
[[nodiscard]] std::optional<std::string> normalize_serial(std::string_view text);

}  // namespace medgw::receiver
