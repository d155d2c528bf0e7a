#pragma once
// The path from this machine to the central, step by step, each with its own
// verdict and deadline: the proxy (when configured), name resolution, TCP,
// the TLS handshake with central.ca and the host name, the pins, the client
// certificate accepted, the tus endpoint answering OPTIONS with
// Tus-Resumable: 1.0.0, and the clock against the answer's Date header.
#include <daemon/support/check.hpp>
#include <daemon/support/http_probe.hpp>

#include <daemon/config/config.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace medgw::daemon {

struct CentralFindings {
  std::vector<Check> checks;
  bool answered = false;          // the central answered over TLS
  bool receipts_offered = false;  // Medgw-Receipts: the central signs receipts
};

// `password`: central.key's passphrase when it is encrypted (else empty).
[[nodiscard]] CentralFindings check_central(const CentralConfig& central, const std::string& password,
                                            std::chrono::milliseconds deadline);

// What one OPTIONS exchange says about TLS, pins, the client certificate, the
// tus endpoint and the clock (a pure judgement, tested with curl's results).
struct ExchangeContext {
  std::string host_port;  // "collector.example.jp:443"
  bool pins = false;
  bool proxy = false;
  std::chrono::milliseconds deadline{10'000};
};
[[nodiscard]] std::vector<Check> judge_exchange(const Exchange& exchange, const ExchangeContext& context);

}  // namespace medgw::daemon
