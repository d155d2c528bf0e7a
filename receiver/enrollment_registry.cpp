#include <receiver/enrollment_registry.hpp>

#include <crypto/hash.hpp>
#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>

#include <array>
#include <cctype>

#include <openssl/bn.h>

namespace medgw::receiver {
namespace {

// Never edit a migration that shipped: add the next one.
constexpr std::array<std::string_view, 1> migrations = {
    R"sql(
CREATE TABLE tickets (
  hash       TEXT PRIMARY KEY,
  facility   TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms    INTEGER
) STRICT;
CREATE TABLE certificates (
  serial        TEXT PRIMARY KEY,
  facility      TEXT NOT NULL,
  not_before_ms INTEGER NOT NULL,
  not_after_ms  INTEGER NOT NULL,
  issued_ms     INTEGER NOT NULL,
  via           TEXT NOT NULL,
  revoked_ms    INTEGER
) STRICT;
CREATE INDEX certificates_by_facility ON certificates (facility, issued_ms);
)sql",
};

std::string ticket_hash(const std::string& ticket) {
  return base::to_hex(crypto::sha256(base::ByteView(reinterpret_cast<const std::uint8_t*>(ticket.data()), ticket.size())));
}

CertificateRecord record_from_row(base::Statement& row) {
  CertificateRecord out;
  out.serial = row.column_text(0);
  out.facility = row.column_text(1);
  out.not_before_ms = row.column_int64(2);
  out.not_after_ms = row.column_int64(3);
  out.issued_ms = row.column_int64(4);
  out.via = row.column_text(5);
  out.revoked_ms = row.is_null(6) ? 0 : row.column_int64(6);
  return out;
}

constexpr std::string_view record_columns =
    "serial, facility, not_before_ms, not_after_ms, issued_ms, via, revoked_ms";

}  // namespace

std::optional<std::string> normalize_serial(std::string_view text) {
  std::string hex;
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  for (const char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)) || hex.size() >= 64) return std::nullopt;
    hex.push_back(c);
  }
  if (hex.empty()) return std::nullopt;
  BIGNUM* number = nullptr;
  if (BN_hex2bn(&number, hex.c_str()) == 0) return std::nullopt;
  char* canonical = BN_bn2hex(number);
  std::string out(canonical);
  OPENSSL_free(canonical);
  BN_free(number);
  return out;
}

EnrollmentRegistry::EnrollmentRegistry(const std::filesystem::path& db_file)
    : db_(base::Database::open(db_file, base::Database::Mode::read_write_create)) {
  db_.exec("PRAGMA journal_mode = WAL");
  // A used ticket or an issued certificate must not be forgotten by a power cut.
  db_.exec("PRAGMA synchronous = FULL");
  db_.exec("PRAGMA busy_timeout = 10000");
  const auto version = db_.query_int64("PRAGMA user_version").value_or(0);
  if (version > static_cast<std::int64_t>(migrations.size())) {
    throw std::runtime_error(db_file.string() + " was written by a newer medgw-receiver (schema " +
                             std::to_string(version) + "); run that version");
  }
  for (auto next = version; next < static_cast<std::int64_t>(migrations.size()); ++next) {
    base::WriteTransaction transaction(db_);
    db_.exec(migrations[static_cast<std::size_t>(next)]);
    db_.exec("PRAGMA user_version = " + std::to_string(next + 1));
    transaction.commit();
  }
}

std::string EnrollmentRegistry::add_ticket(const std::string& facility, std::int64_t now_ms, std::int64_t expires_ms) {
  std::array<std::uint8_t, 32> random{};
  crypto::random_bytes(random);
  std::string ticket = base::base64_encode(base::ByteView(random.data(), random.size()));
  for (char& c : ticket) c = c == '+' ? '-' : c == '/' ? '_' : c;
  std::lock_guard lock(mutex_);
  db_.prepare("INSERT INTO tickets (hash, facility, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)")
      .bind_all(ticket_hash(ticket), facility, now_ms, expires_ms)
      .run();
  return ticket;
}

TicketUse EnrollmentRegistry::take_ticket(const std::string& ticket, const std::string& facility, std::int64_t now_ms) {
  const std::string hash = ticket_hash(ticket);
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  auto row = db_.prepare("SELECT facility, expires_ms, used_ms FROM tickets WHERE hash = ?1");
  row.bind_all(hash);
  if (!row.step()) return TicketUse::unknown;
  if (!row.is_null(2)) return TicketUse::used;
  if (row.column_int64(1) <= now_ms) return TicketUse::expired;
  if (row.column_text(0) != facility) return TicketUse::other_facility;
  db_.prepare("UPDATE tickets SET used_ms = ?2 WHERE hash = ?1").bind_all(hash, now_ms).run();
  transaction.commit();
  return TicketUse::taken;
}

void EnrollmentRegistry::give_back_ticket(const std::string& ticket) {
  std::lock_guard lock(mutex_);
  db_.prepare("UPDATE tickets SET used_ms = NULL WHERE hash = ?1").bind_all(ticket_hash(ticket)).run();
}

void EnrollmentRegistry::add_certificate(const CertificateRecord& record) {
  std::lock_guard lock(mutex_);
  db_.prepare("INSERT INTO certificates (serial, facility, not_before_ms, not_after_ms, issued_ms, via) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .bind_all(record.serial, record.facility, record.not_before_ms, record.not_after_ms, record.issued_ms,
                record.via)
      .run();
}

std::optional<CertificateRecord> EnrollmentRegistry::certificate(const std::string& serial) {
  std::lock_guard lock(mutex_);
  auto row = db_.prepare("SELECT " + std::string(record_columns) + " FROM certificates WHERE serial = ?1");
  row.bind_all(serial);
  if (!row.step()) return std::nullopt;
  return record_from_row(row);
}

std::vector<CertificateRecord> EnrollmentRegistry::certificates() {
  std::lock_guard lock(mutex_);
  std::vector<CertificateRecord> out;
  auto row = db_.prepare("SELECT " + std::string(record_columns) + " FROM certificates ORDER BY facility, issued_ms");
  while (row.step()) out.push_back(record_from_row(row));
  return out;
}

std::optional<std::string> EnrollmentRegistry::newest_serial(const std::string& facility) {
  std::lock_guard lock(mutex_);
  auto row = db_.prepare("SELECT serial FROM certificates WHERE facility = ?1 AND revoked_ms IS NULL "
                         "AND via != 'revoked' ORDER BY issued_ms DESC, not_before_ms DESC LIMIT 1");
  row.bind_all(facility);
  if (!row.step()) return std::nullopt;
  return row.column_text(0);
}

bool EnrollmentRegistry::revoke_serial(const std::string& serial, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  db_.prepare("INSERT OR IGNORE INTO certificates (serial, facility, not_before_ms, not_after_ms, issued_ms, via) "
              "VALUES (?1, '', 0, 0, ?2, 'revoked')")
      .bind_all(serial, now_ms)
      .run();
  db_.prepare("UPDATE certificates SET revoked_ms = ?2 WHERE serial = ?1 AND revoked_ms IS NULL")
      .bind_all(serial, now_ms)
      .run();
  const bool changed = db_.changes() > 0;
  transaction.commit();
  return changed;
}

std::uint64_t EnrollmentRegistry::revoke_facility(const std::string& facility, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  db_.prepare("UPDATE certificates SET revoked_ms = ?2 WHERE facility = ?1 AND revoked_ms IS NULL")
      .bind_all(facility, now_ms)
      .run();
  return static_cast<std::uint64_t>(db_.changes());
}

std::vector<RevokedSerial> EnrollmentRegistry::revoked() {
  std::lock_guard lock(mutex_);
  std::vector<RevokedSerial> out;
  auto row = db_.prepare("SELECT serial, revoked_ms FROM certificates WHERE revoked_ms IS NOT NULL ORDER BY serial");
  while (row.step()) out.push_back({row.column_text(0), row.column_int64(1)});
  return out;
}

std::int64_t EnrollmentRegistry::data_version() {
  std::lock_guard lock(mutex_);
  return db_.query_int64("PRAGMA data_version").value_or(0);
}

}  // namespace medgw::receiver
