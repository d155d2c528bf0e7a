// TusServer: the enrollment service under /.well-known/est/ (issue 22,
// docs/certificates.md): cacerts, simpleenroll (a one-time ticket in HTTP
// Basic), simplereenroll (the current client certificate) and crl. A client
// without a certificate reaches only this path, one request a connection.
// Tickets and keys never reach a log line; refusals say what to do.
#include <receiver/tus_server_impl.hpp>

#include <receiver/external_signer.hpp>
#include <receiver/identifiers.hpp>

#include <base/base64.hpp>
#include <base/output_file.hpp>
#include <base/time_format.hpp>

#include <boost/asio/redirect_error.hpp>


namespace medgw::receiver {
namespace {

constexpr std::uint64_t est_body_limit = 16 << 10;
constexpr auto crl_lifetime = std::chrono::hours(24 * 7);
constexpr auto crl_remake = std::chrono::hours(24);

TusAnswer est_refusal(unsigned status, std::string why) {
  TusAnswer answer = tus_answer(status, std::move(why));
  if (status == 401) answer.headers.emplace_back("WWW-Authenticate", "Basic realm=\"medgw enrollment\"");
  return answer;
}

TusAnswer certs_only_answer(const Der& der) {
  TusAnswer answer = tus_answer(200, encode_est_base64(der));
  answer.headers.emplace_back("Content-Type", "application/pkcs7-mime; smime-type=certs-only");
  answer.headers.emplace_back("Content-Transfer-Encoding", "base64");
  return answer;
}

// (facility, ticket) from "Authorization: Basic ...", or nullopt.
std::optional<std::pair<std::string, std::string>> basic_credentials(const Parser& parser) {
  const auto& fields = parser.get();
  const auto found = fields.find(http::field::authorization);
  if (found == fields.end()) return std::nullopt;
  std::string_view value = found->value();
  if (!value.starts_with("Basic ") || value.size() > 512) return std::nullopt;
  value.remove_prefix(6);
  const auto decoded = base::base64_decode_padded(value);
  if (!decoded) return std::nullopt;
  const std::string text(decoded->begin(), decoded->end());
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{text.substr(0, colon), text.substr(colon + 1)};
}

bool is_ticket_text(std::string_view text) {
  return text.size() == 43 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

std::string ticket_refusal(TicketUse use) {
  switch (use) {
    case TicketUse::unknown: return "the ticket is not known here (mistyped, or made for another central)";
    case TicketUse::used: return "the ticket was used already (it works once): ask the central's operator for a new one";
    case TicketUse::expired: return "the ticket expired: ask the central's operator for a new one";
    case TicketUse::other_facility: return "the ticket is for another facility than the one named";
    case TicketUse::taken: break;
  }
  return {};
}

std::string utc_text(std::int64_t ms) {
  return base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

}  // namespace

asio::awaitable<std::optional<std::string>> TusServer::Impl::read_small_body(Stream& stream, beast::flat_buffer& buffer,
                                                                             Parser& parser, std::uint64_t limit) {
  std::string body;
  char block[4096];
  while (!parser.is_done()) {
    parser.get().body().data = block;
    parser.get().body().size = sizeof block;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != http::error::need_buffer) co_return std::nullopt;
    body.append(block, sizeof block - parser.get().body().size);
    if (body.size() > limit) co_return std::nullopt;
  }
  co_return body;
}

std::optional<TusAnswer> TusServer::Impl::refusal(const Peer& peer) {
  if (!peer.has_certificate()) {
    return est_refusal(401, "a client certificate is required here; a gateway without one enrolls first (medgw enroll)");
  }
  if (revoked_serials.contains(peer.certificate.serial)) {
    if (const auto suppressed = may_log(revoked_log)) {
      logger.warn("receiver.certificate_revoked", "a revoked client certificate was refused",
                  {{"facility", peer.facility != nullptr ? peer.facility->code : std::string("?")},
                   {"serial", peer.certificate.serial}, {"suppressed_before", *suppressed}});
    }
    return est_refusal(401, "this client certificate is revoked; ask the central's operator for a new ticket");
  }
  if (peer.certificate.not_after_ms < unix_ms()) {
    return est_refusal(401, "this client certificate expired on " + utc_text(peer.certificate.not_after_ms) +
                                "; renew it (medgw renews by itself) or enroll again with a new ticket");
  }
  return std::nullopt;
}

asio::awaitable<TusAnswer> TusServer::Impl::est(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                const Peer& peer) {
  const auto method = parser.get().method();
  const std::string operation = std::string(parser.get().target()).substr(est_path.size());
  const auto body = co_await read_small_body(stream, buffer, parser, est_body_limit);
  TusAnswer answer;
  if (!body) {
    answer = tus_answer(413, "the request body is over 16 KiB; a CSR is far smaller");
    answer.close = true;
    co_return answer;
  }
  const bool known = operation == "cacerts" || operation == "crl" || operation == "simpleenroll" ||
                     operation == "simplereenroll";
  const bool reading = operation == "cacerts" || operation == "crl";
  if (!known) {
    answer = tus_answer(404, "the enrollment service knows cacerts, simpleenroll, simplereenroll and crl");
  } else if (method != (reading ? http::verb::get : http::verb::post)) {
    answer = tus_answer(405, reading ? "use GET" : "use POST with a base64 CSR (Content-Type: application/pkcs10)");
    answer.headers.emplace_back("Allow", reading ? "GET" : "POST");
  } else if (peer.has_certificate() && (operation == "simpleenroll" || operation == "simplereenroll") &&
             revoked_serials.contains(peer.certificate.serial)) {
    answer = *refusal(peer);
  } else if (operation == "cacerts") {
    answer = certs_only_answer(issuing_ca->certs_only({}));
  } else if (operation == "crl") {
    if (crl_der.empty()) {
      answer = tus_answer(404, "no CRL: this receiver signs with an external command (ca.command)");
    } else {
      answer = tus_answer(200, std::string(crl_der.begin(), crl_der.end()));
      answer.headers.emplace_back("Content-Type", "application/pkix-crl");
    }
  } else if (operation == "simpleenroll") {
    answer = co_await enroll(*body, parser);
  } else {
    answer = co_await reenroll(*body, peer);
  }
  if (answer.status >= 400 && (operation == "simpleenroll" || operation == "simplereenroll")) {
    if (const auto suppressed = may_log(enroll_log)) {
      logger.warn("receiver.enroll_refused", "an enrollment was refused",
                  {{"operation", operation}, {"status", answer.status}, {"why", answer.body},
                   {"suppressed_before", *suppressed}});
    }
  }
  if (!peer.has_certificate()) answer.close = true;
  co_return answer;
}

asio::awaitable<TusAnswer> TusServer::Impl::enroll(const std::string& body, const Parser& parser) {
  const auto credentials = basic_credentials(parser);
  if (!credentials) {
    co_return est_refusal(401, "simpleenroll needs HTTP Basic: the facility code as user, the ticket as password");
  }
  const std::string code = credentials->first;
  const std::string ticket = credentials->second;
  if (config.facility(code) == nullptr) co_return est_refusal(401, "the facility " + code.substr(0, 16) + " is not served here");
  if (!is_ticket_text(ticket)) co_return est_refusal(401, "the password is not a ticket (43 characters from the ticket file)");
  const auto der = decode_est_base64(body);
  if (!der) co_return tus_answer(400, "the body is not base64 (send the CSR's DER form in base64)");
  const auto csr = issuing_ca->check_csr(*der, code);
  if (!csr) co_return tus_answer(400, csr.error().message);
  const TicketUse use = co_await off_loop([&] { return registry->take_ticket(ticket, code, unix_ms()); });
  if (use != TicketUse::taken) co_return est_refusal(401, ticket_refusal(use));
  const Signed issued = co_await off_loop([&] { return sign(*csr, code, "ticket"); });
  if (!issued.certificate) {
    co_await off_loop([&] {
      registry->give_back_ticket(ticket);
      return 0;
    });
    TusAnswer answer = tus_answer(503, "the certificate could not be made now; try again later");
    answer.headers.emplace_back("Retry-After", "60");
    logger.error("receiver.enroll_failed", "the issuing CA failed", {{"facility", code}, {"why", issued.error}});
    co_return answer;
  }
  logger.info("receiver.enrolled", "a gateway enrolled with a ticket",
              {{"facility", code}, {"serial", issued.certificate->serial},
               {"not_after", utc_text(issued.certificate->not_after_ms)}});
  co_return certs_only_answer(issuing_ca->certs_only(issued.certificate->der));
}

asio::awaitable<TusAnswer> TusServer::Impl::reenroll(const std::string& body, const Peer& peer) {
  if (!peer.has_certificate()) {
    co_return est_refusal(401, "simplereenroll needs the current client certificate (a new gateway uses simpleenroll)");
  }
  if (peer.facility == nullptr) co_return tus_answer(403, "this client certificate is not mapped to a facility");
  const std::string code = peer.facility->code;
  const std::int64_t now = unix_ms();
  if (peer.certificate.not_after_ms < now) {
    // Renewal after expiry (a gateway switched off for a while): only within
    // ca.grace, and only the facility's newest certificate, so an old stolen
    // one cannot come back to life.
    const auto newest = co_await off_loop([&] { return registry->newest_serial(code); });
    const auto grace_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config.enrollment.grace).count();
    if (peer.certificate.not_after_ms + grace_ms < now) {
      co_return est_refusal(401, "this certificate expired longer than ca.grace ago; enroll again with a new ticket");
    }
    if (newest != peer.certificate.serial) {
      co_return est_refusal(401, "this expired certificate is not the facility's newest; enroll again with a new ticket");
    }
  }
  const auto der = decode_est_base64(body);
  if (!der) co_return tus_answer(400, "the body is not base64 (send the CSR's DER form in base64)");
  const auto csr = issuing_ca->check_csr(*der, code);
  if (!csr) co_return tus_answer(400, csr.error().message);
  const Signed issued = co_await off_loop([&] { return sign(*csr, code, "renewal"); });
  if (!issued.certificate) {
    TusAnswer answer = tus_answer(503, "the certificate could not be made now; try again later");
    answer.headers.emplace_back("Retry-After", "60");
    logger.error("receiver.enroll_failed", "the issuing CA failed", {{"facility", code}, {"why", issued.error}});
    co_return answer;
  }
  logger.info("receiver.renewed", "a gateway renewed its certificate",
              {{"facility", code}, {"serial", issued.certificate->serial}, {"previous", peer.certificate.serial},
               {"not_after", utc_text(issued.certificate->not_after_ms)}});
  co_return certs_only_answer(issuing_ca->certs_only(issued.certificate->der));
}

TusServer::Impl::Signed TusServer::Impl::sign(const CheckedCsr& csr, const std::string& facility,
                                              const std::string& via) {
  base::Result<IssuedCertificate> issued = base::fail("signer_failed", "no signer");
  if (issuing_ca->can_sign()) {
    issued = issuing_ca->issue(csr, facility);
  } else {
    const auto pem = run_external_signer(config.enrollment.command, csr.pem, facility, config.enrollment.validity);
    if (!pem) return {std::nullopt, pem.error().message};
    issued = issuing_ca->accept_signed(csr, facility, *pem);
  }
  if (!issued) return {std::nullopt, issued.error().message};
  registry->add_certificate(
      {issued->serial, facility, issued->not_before_ms, issued->not_after_ms, unix_ms(), via, 0});
  return {*issued, {}};
}

asio::awaitable<void> TusServer::Impl::revocation_loop() {
  std::int64_t crl_made_ms = 0;
  while (!stopping) {
    // Off the loop: the operator's revoke command wrote enrollment.db.
    auto changed = co_await off_loop([&]() -> std::optional<std::pair<std::vector<RevokedSerial>, Der>> {
      const std::int64_t version = registry->data_version();
      const bool stale = unix_ms() - crl_made_ms > std::chrono::duration_cast<std::chrono::milliseconds>(crl_remake).count();
      if (version == registry_version && !stale) return std::nullopt;
      registry_version = version;
      auto revoked = registry->revoked();
      Der crl;
      if (issuing_ca->can_sign()) {
        if (auto made = issuing_ca->crl(revoked, crl_lifetime)) {
          crl = std::move(*made);
          crl_made_ms = unix_ms();
          const std::string pem = crl_pem(crl);
          try {
            base::AtomicFile file(config.data_dir / "crl.pem", 0644);
            file.write(base::ByteView(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
            file.commit();
          } catch (const std::exception&) {
            // Served from memory all the same; the file is a convenience.
          }
        }
      }
      return std::pair{std::move(revoked), std::move(crl)};
    });
    if (changed) {
      revoked_serials.clear();
      for (const RevokedSerial& entry : changed->first) revoked_serials.insert(entry.serial);
      if (!changed->second.empty()) crl_der = std::move(changed->second);
    }
    boost::system::error_code ec;
    revocation_timer.expires_after(std::chrono::seconds(1));
    co_await revocation_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace medgw::receiver
