#pragma once
// What a support bundle and doctor say about certificates: subjects,
// issuers, validity, fingerprints and SPKI pins of every certificate in a PEM
// file. Key files are never opened here.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace medgw::daemon {

struct CertificateFacts {
  std::string subject;  // RFC 2253
  std::string issuer;
  std::string serial;   // hex
  std::string not_before;  // RFC 3339
  std::string not_after;
  std::chrono::system_clock::time_point expires;
  std::string sha256_fingerprint;  // hex of the DER certificate
  std::string spki_pin;            // sha256//<base64>, as central.pin takes it
};

struct CertificateFile {
  std::vector<CertificateFacts> certificates;  // in file order
  std::string problem;                         // when none could be read
};

[[nodiscard]] CertificateFile read_certificates(const std::filesystem::path& file);

// certificates.json: {"central.cert": {...}, "central.ca": {...}} for the given (key, file) pairs.
[[nodiscard]] std::string certificates_json(const std::vector<std::pair<std::string, std::filesystem::path>>& files,
                                            std::chrono::system_clock::time_point now);

}  // namespace medgw::daemon
