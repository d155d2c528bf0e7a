#pragma once
// receiver.yaml: the reference central collector's configuration. Unknown
// keys are errors; every error names file:line:col.
#include <crypto/signing.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace medgw::receiver {

struct FacilityEntry {
  std::string code;                      // 9-digit facility code
  std::vector<std::string> clients;      // client certificate subject CN or DNS SAN
  std::vector<crypto::Ed25519PublicKey> gateway_keys;  // "ed25519:<base64>" of its gateways
};

// ca: the enrollment service's issuing CA (issue 22, docs/certificates.md).
struct EnrollmentConfig {
  std::filesystem::path cert;   // the issuing CA's certificate (PEM); empty = no enrollment service
  std::filesystem::path key;    // its private key (0600), or
  std::string command;          // an external signer: CSR PEM on stdin, certificate PEM on stdout
  std::chrono::seconds validity{90 * 86400};        // of an issued certificate
  std::chrono::seconds grace{7 * 86400};            // an expired newest certificate may still renew
  std::chrono::seconds ticket_validity{7 * 86400};  // default of `ticket --valid`
  [[nodiscard]] bool enabled() const { return !cert.empty(); }
};
inline constexpr std::string_view est_path = "/.well-known/est/";

struct ReceiverConfig {
  std::string listen = "127.0.0.1:8443";  // IP:port (port 0: any free port, printed at start)
  std::string base_path = "/files/";      // the tus endpoint
  std::filesystem::path ca;               // client certificates must chain to it
  std::filesystem::path cert;             // server certificate (chain)
  std::filesystem::path key;              // server private key (mode 0600)
  std::filesystem::path data_dir;         // receiver.db, uploads/, store/
  std::filesystem::path landing;          // optional: decrypt and unpack here
  std::filesystem::path identity;         // age identity for landing
  std::filesystem::path receipt_key;      // Ed25519 key signing receipts (created on first use)
  // The facilities' write-once backups (backup: {dir, path, quota}); empty
  // dir = no backup endpoint.
  std::filesystem::path backup_dir;
  std::string backup_path = "/backup/";
  std::uint64_t backup_quota = 1ULL << 40;  // per facility
  EnrollmentConfig enrollment;
  std::uint64_t max_upload = 64ULL << 30;
  std::chrono::seconds expiration{24 * 3600};  // an unfinished upload is dropped after this
  std::chrono::seconds idle_timeout{60};       // a connection silent this long is closed

  // Limits (docs/operations.md "medgw-receiver"): what one client, one
  // facility or a flood of connections can take of the receiver.
  std::uint64_t max_connections = 4096;   // all connections; also held under RLIMIT_NOFILE
  std::uint64_t max_handshakes = 1024;    // connections not authenticated yet (oldest evicted)
  std::uint64_t max_connections_per_facility = 64;
  std::chrono::seconds handshake_timeout{10};  // TCP accept to the end of the TLS handshake
  std::uint64_t max_open_uploads_per_facility = 64;
  std::uint64_t max_inflight_bytes_per_facility = 128ULL << 30;  // declared lengths of open uploads
  std::uint64_t min_free = 2ULL << 30;    // kept free on data_dir's and landing's file systems
  std::uint64_t landing_max_ratio = 1000;  // plain bytes per byte of the object at most
  std::uint64_t landing_max_member_size = 64ULL << 30;

  std::vector<FacilityEntry> facilities;
  // For fault-injection tests of gateways: answer every Nth PATCH with 503
  // (after reading its body) instead of storing it. 0 = never.
  std::uint64_t inject_503_every = 0;

  [[nodiscard]] const FacilityEntry* facility_of_client(std::string_view name) const;
  [[nodiscard]] const FacilityEntry* facility(std::string_view code) const;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ConfigError with every problem, one "FILE:LINE:COL: message" a line.
[[nodiscard]] ReceiverConfig load_receiver_config(const std::filesystem::path& file);

}  // namespace medgw::receiver
