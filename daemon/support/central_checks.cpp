#include <daemon/support/central_checks.hpp>

#include <daemon/support/judgements.hpp>

#include <curl/curl.h>

namespace medgw::daemon {
namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::string seconds_text(std::chrono::milliseconds deadline) { return std::to_string(deadline.count() / 1000) + " s"; }

// The TLS alert a peer sent, as OpenSSL names it ("certificate expired"), or "".
std::string alert_of(const std::string& error) {
  const auto at = error.find("alert ");
  if (at == std::string::npos) return {};
  std::string alert = error.substr(at + 6);
  return alert.substr(0, alert.find_first_of(",;("));
}

void skip_rest(std::vector<Check>& out, const std::vector<std::pair<std::string, std::string>>& rest,
               const std::string& why) {
  for (const auto& [id, title] : rest) out.push_back(make_check(id, title, Verdict::skip, why));
}

const std::vector<std::pair<std::string, std::string>>& after_tls(bool pins) {
  static const std::vector<std::pair<std::string, std::string>> with_pins{
      {"pin", "central.pin"}, {"client_cert", "client certificate accepted"}, {"tus", "tus endpoint"}};
  static const std::vector<std::pair<std::string, std::string>> without{
      {"client_cert", "client certificate accepted"}, {"tus", "tus endpoint"}};
  return pins ? with_pins : without;
}

Check tls_failure(const Exchange& exchange, const ExchangeContext& context) {
  const std::string& error = exchange.error;
  const std::string title = "TLS handshake with the central";
  if (exchange.curl_code == CURLE_SSL_CACERT_BADFILE) {
    return make_check("tls", title, Verdict::fail, "central.ca cannot be used: " + error,
                      "central.ca must be the PEM file of the central's CA, readable by the medgw user");
  }
  if (contains(error, "subject name") || contains(error, "does not match target host") ||
      contains(error, "no alternative certificate subject name")) {
    return make_check("tls", title, Verdict::fail,
                      "the central's certificate does not name " + context.host_port + " (" + error + ")",
                      "central.url must use the host name in the central's certificate (ask the central's "
                      "operators which name that is; an IP address works only if the certificate lists it)");
  }
  if (contains(error, "certificate has expired")) {
    return make_check("tls", title, Verdict::fail, "the central's certificate has expired (" + error + ")",
                      "tell the central's operators; if the central is fine, check this machine's clock");
  }
  if (contains(error, "certificate is not yet valid")) {
    return make_check("tls", title, Verdict::fail, "the central's certificate is not valid yet (" + error + ")",
                      "check this machine's clock (timedatectl)");
  }
  if (exchange.curl_code == CURLE_PEER_FAILED_VERIFICATION) {
    return make_check("tls", title, Verdict::fail,
                      "the central's certificate is not signed by central.ca (" + error + ")",
                      "central.ca must be the CA file the central's operators gave you (system CAs are not trusted); "
                      "a proxy that intercepts TLS cannot be used");
  }
  if (contains(alert_of(error), "protocol version") || contains(error, "unsupported protocol") ||
      contains(error, "wrong version number")) {
    return make_check("tls", title, Verdict::fail, "no common TLS version (" + error + ")",
                      "the central needs TLS 1.2 or newer; set central.tls_min: \"1.2\" only if the central cannot "
                      "do TLS 1.3");
  }
  return make_check("tls", title, Verdict::fail, "the TLS handshake failed (" + error + ")",
                    "check central.url, central.ca and that nothing between here and the central intercepts TLS");
}

Check tus_check(const Exchange& exchange) {
  const std::string title = "tus endpoint";
  const auto version = exchange.headers.find("tus-resumable");
  if ((exchange.http_status == 200 || exchange.http_status == 204) && version != exchange.headers.end() &&
      version->second == "1.0.0") {
    std::string finding = "OPTIONS answered with Tus-Resumable: 1.0.0";
    if (const auto extensions = exchange.headers.find("tus-extension"); extensions != exchange.headers.end()) {
      finding += " (extensions " + extensions->second + ")";
    }
    if (exchange.headers.contains("medgw-receipts")) finding += "; the central signs receipts";
    return make_check("tus", title, Verdict::ok, finding);
  }
  std::string finding = "OPTIONS answered with HTTP " + std::to_string(exchange.http_status);
  finding += version == exchange.headers.end() ? " and no Tus-Resumable header" : ", Tus-Resumable: " + version->second;
  return make_check("tus", title, Verdict::fail, finding,
                    "central.url must be the central's tus 1.0 upload URL (e.g. https://collector.example.jp/files/); "
                    "ask the central's operators");
}

}  // namespace

std::vector<Check> judge_exchange(const Exchange& exchange, const ExchangeContext& context) {
  std::vector<Check> out;
  const std::string& error = exchange.error;
  const CURLcode code = static_cast<CURLcode>(exchange.curl_code);
  const std::string tls_title = "TLS handshake with the central";
  const std::string alert = alert_of(error);
  // Through a proxy, the tunnel is the connection.
  if (context.proxy) {
    const bool tunnel_failed = contains(error, "CONNECT") || code == CURLE_COULDNT_CONNECT ||
                               code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY;
    if (tunnel_failed) {
      out.push_back(make_check("tcp", "connection to the central", Verdict::fail,
                               "the proxy did not open a tunnel to " + context.host_port + " (" + error + ")",
                               "ask the network team to allow CONNECT to " + context.host_port + " on the proxy"));
      out.push_back(make_check("tls", tls_title, Verdict::skip, "not reached"));
      skip_rest(out, after_tls(context.pins), "not reached");
      return out;
    }
    out.push_back(make_check("tcp", "connection to the central", Verdict::ok,
                             "the proxy opened a tunnel to " + context.host_port));
  }
  if (code == CURLE_SSL_CERTPROBLEM) {
    out.push_back(make_check("tls", tls_title, Verdict::skip, "not started: the client certificate cannot be used"));
    if (context.pins) out.push_back(make_check("pin", "central.pin", Verdict::skip, "not reached"));
    out.push_back(make_check("client_cert", "client certificate accepted", Verdict::fail,
                             "central.cert/central.key cannot be used: " + error,
                             "central.cert and central.key must be this gateway's PEM certificate and its key (for an "
                             "encrypted key, central.key_password_file); renew them if they do not match"));
    out.push_back(make_check("tus", "tus endpoint", Verdict::skip, "not reached"));
    return out;
  }
  const bool client_refused = !alert.empty() && !contains(alert, "protocol version") &&
                              (code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_SSL_CONNECT_ERROR);
  if (code != CURLE_OK && !client_refused && code != CURLE_SSL_PINNEDPUBKEYNOTMATCH &&
      code != CURLE_OPERATION_TIMEDOUT && code != CURLE_GOT_NOTHING) {
    out.push_back(tls_failure(exchange, context));
    skip_rest(out, after_tls(context.pins), "not reached: TLS failed");
    return out;
  }
  out.push_back(make_check("tls", tls_title, Verdict::ok,
                           "the central's certificate is signed by central.ca and names " + context.host_port));
  if (context.pins) {
    if (code == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
      out.push_back(make_check("pin", "central.pin", Verdict::fail, "the central's key matches none of central.pin",
                               "if the central changed its key, get the new pin from its operators; otherwise someone "
                               "may be intercepting the connection: do not remove the pin"));
      skip_rest(out, {{"client_cert", "client certificate accepted"}, {"tus", "tus endpoint"}}, "not reached");
      return out;
    }
    out.push_back(make_check("pin", "central.pin", Verdict::ok, "the central's key matches central.pin"));
  }
  if (client_refused) {
    out.push_back(make_check("client_cert", "client certificate accepted", Verdict::fail,
                             "the central refused this gateway's certificate (TLS alert: " + alert + ")",
                             "check central.cert's validity and that the central's operators registered it for this "
                             "facility; renew or re-enroll when it expired"));
    out.push_back(make_check("tus", "tus endpoint", Verdict::skip, "not reached"));
    return out;
  }
  if (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_GOT_NOTHING) {
    out.push_back(make_check("client_cert", "client certificate accepted", Verdict::warn,
                             "no answer after the handshake, so it is not known"));
    out.push_back(make_check("tus", "tus endpoint", Verdict::fail,
                             "no answer to OPTIONS within " + seconds_text(context.deadline) + " (" + error + ")",
                             "the central is overloaded or central.url points at something else; ask its operators"));
    return out;
  }
  if (exchange.http_status == 401 || exchange.http_status == 403) {
    out.push_back(make_check("client_cert", "client certificate accepted", Verdict::fail,
                             "the central refused this gateway (HTTP " + std::to_string(exchange.http_status) + ")",
                             "ask the central's operators to register this gateway's certificate for the facility"));
    out.push_back(make_check("tus", "tus endpoint", Verdict::skip, "not reached"));
    return out;
  }
  out.push_back(make_check("client_cert", "client certificate accepted", Verdict::ok, "the central accepted it"));
  out.push_back(tus_check(exchange));
  return out;
}

CentralFindings check_central(const CentralConfig& central, const std::string& password,
                              std::chrono::milliseconds deadline) {
  CentralFindings findings;
  auto& out = findings.checks;
  Endpoint target;
  if (!parse_endpoint(central.url, "443", target)) {
    out.push_back(make_check("dns", "name of the central", Verdict::fail, "central.url has no host", "correct central.url"));
    return findings;
  }
  const std::string host_port = target.host + ":" + target.port;
  const bool proxied = !central.proxy.empty();
  const std::vector<std::pair<std::string, std::string>> network_rest{
      {"tls", "TLS handshake with the central"}};
  if (proxied) {
    Endpoint proxy;
    if (!parse_endpoint(central.proxy, "1080", proxy)) {
      out.push_back(make_check("proxy", "proxy", Verdict::fail, "central.proxy has no host:port", "correct central.proxy"));
      return findings;
    }
    // The proxy's URL may hold user:password@: only its host and port are shown.
    const std::string shown = proxy.host + ":" + proxy.port;
    const Resolved resolved = resolve_host(proxy, deadline);
    std::chrono::milliseconds took{};
    const std::string problem = resolved.error.empty() ? connect_tcp(resolved, deadline, took)
                                                       : "cannot resolve its name: " + resolved.error;
    if (!problem.empty()) {
      out.push_back(make_check("proxy", "proxy reachable", Verdict::fail, "the proxy " + shown + " does not answer: " + problem,
                               "check central.proxy and that the proxy runs; ask the network team"));
      skip_rest(out, {{"dns", "name of the central"}, {"tcp", "connection to the central"}}, "not reached: the proxy is down");
      skip_rest(out, network_rest, "not reached: the proxy is down");
      skip_rest(out, after_tls(!central.pins.empty()), "not reached: the proxy is down");
      return findings;
    }
    out.push_back(make_check("proxy", "proxy reachable", Verdict::ok,
                             "the proxy " + shown + " accepts connections (" + std::to_string(took.count()) + " ms)"));
    out.push_back(make_check("dns", "name of the central", Verdict::skip, "resolved by the proxy"));
  } else {
    const Resolved resolved = resolve_host(target, deadline);
    if (!resolved.error.empty()) {
      out.push_back(make_check("dns", "name of the central", Verdict::fail,
                               "cannot resolve " + target.host + ": " + resolved.error,
                               "check the name in central.url and this machine's DNS servers (/etc/resolv.conf); ask "
                               "the network team"));
      skip_rest(out, {{"tcp", "connection to the central"}}, "not reached: the name does not resolve");
      skip_rest(out, network_rest, "not reached");
      skip_rest(out, after_tls(!central.pins.empty()), "not reached");
      return findings;
    }
    out.push_back(make_check("dns", "name of the central", Verdict::ok, target.host + " is " + resolved.first));
    std::chrono::milliseconds took{};
    if (const std::string problem = connect_tcp(resolved, deadline, took); !problem.empty()) {
      out.push_back(make_check("tcp", "connection to the central", Verdict::fail,
                               "nothing accepts connections at " + host_port + ": " + problem,
                               "the central is down or a firewall blocks outbound TCP " + target.port + " to " +
                                   target.host + "; ask the central's operators and the network team"));
      skip_rest(out, network_rest, "not reached: no connection");
      skip_rest(out, after_tls(!central.pins.empty()), "not reached");
      return findings;
    }
    out.push_back(make_check("tcp", "connection to the central", Verdict::ok,
                             host_port + " accepts connections (" + std::to_string(took.count()) + " ms)"));
  }
  const Exchange exchange = options_request(central, password, deadline);
  const ExchangeContext context{host_port, !central.pins.empty(), proxied, deadline};
  for (Check& check : judge_exchange(exchange, context)) out.push_back(std::move(check));
  const Check* tus = nullptr;
  for (const Check& check : out) {
    if (check.id == "tus") tus = &check;
  }
  findings.answered = tus != nullptr && tus->verdict != Verdict::skip && exchange.http_status > 0;
  findings.receipts_offered = exchange.headers.contains("medgw-receipts");
  std::optional<std::chrono::seconds> offset;
  if (const auto date = exchange.headers.find("date"); date != exchange.headers.end()) {
    const std::time_t central_time = curl_getdate(date->second.c_str(), nullptr);
    if (central_time > 0) {
      offset = std::chrono::duration_cast<std::chrono::seconds>(exchange.answered_at -
                                                                std::chrono::system_clock::from_time_t(central_time));
    }
  }
  out.push_back(judge_clock(offset, findings.answered));
  return findings;
}

}  // namespace medgw::daemon
