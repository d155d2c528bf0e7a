#include <daemon/delivery/enrollment.hpp>

#include <base/base64.hpp>
#include <base/text.hpp>

#include <ctime>
#include <stdexcept>
#include <utility>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

namespace medgw::daemon {
namespace {

bool is_ticket_text(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    const bool url_safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '=';
    if (!url_safe) return false;
  }
  return true;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm when{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &when) != 1) return {};
  return std::chrono::system_clock::from_time_t(::timegm(&when));
}

}  // namespace

base::Result<EnrollmentTicket> parse_ticket(std::string_view text, const std::string& name) {
  EnrollmentTicket ticket;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = base::trim_blanks(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.starts_with('#')) continue;
    const std::size_t colon = line.find(':');
    const std::string_view key = colon == std::string_view::npos ? line : base::trim_blanks(line.substr(0, colon));
    const std::string_view value = colon == std::string_view::npos ? "" : base::trim_blanks(line.substr(colon + 1));
    // The line itself is never quoted: it may hold the ticket.
    if (key == "facility" && !value.empty()) {
      ticket.facility = value;
    } else if (key == "ticket" && is_ticket_text(value)) {
      ticket.ticket = value;
    } else {
      return base::fail("ticket_invalid", name + ":" + std::to_string(line_number) +
                                              ": not a line of an enrollment ticket (expected '# ...', "
                                              "'facility: CODE' or 'ticket: BASE64URL')");
    }
  }
  if (ticket.facility.empty() || ticket.ticket.empty()) {
    return base::fail("ticket_invalid", name + ": not an enrollment ticket (it needs a 'facility:' and a 'ticket:' "
                                               "line, as medgw-receiver ticket writes them)");
  }
  return ticket;
}

base::openssl::Pkey generate_p256_key() {
  base::openssl::Pkey key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("cannot generate an EC P-256 key (OpenSSL)");
  return key;
}

std::string make_csr_der(EVP_PKEY* key, const std::string& common_name) {
  const base::openssl::X509Request request(X509_REQ_new());
  if (!request || X509_REQ_set_version(request.get(), 0) != 1 || X509_REQ_set_pubkey(request.get(), key) != 1) {
    throw std::runtime_error("cannot make a certificate request (OpenSSL)");
  }
  X509_NAME* subject = X509_REQ_get_subject_name(request.get());
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_sign(request.get(), key, EVP_sha256()) <= 0) {
    throw std::runtime_error("cannot sign the certificate request (OpenSSL)");
  }
  const int length = i2d_X509_REQ(request.get(), nullptr);
  std::string der(static_cast<std::size_t>(length > 0 ? length : 0), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (length <= 0 || i2d_X509_REQ(request.get(), &out) != length) {
    throw std::runtime_error("cannot encode the certificate request (OpenSSL)");
  }
  return der;
}

base::Result<Certificates> parse_est_certificates(std::string_view body) {
  std::string compact;
  for (const char c : body) {
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
  }
  const auto der = base::base64_decode_padded(compact);
  if (!der || der->empty()) return base::fail("est_answer_invalid", "the central's answer is not base64");
  const unsigned char* in = der->data();
  const base::openssl::Pkcs7 pkcs7(d2i_PKCS7(nullptr, &in, static_cast<long>(der->size())));
  ERR_clear_error();
  if (!pkcs7 || in != der->data() + der->size()) {
    return base::fail("est_answer_invalid", "the central's answer is not a DER PKCS#7");
  }
  if (PKCS7_type_is_signed(pkcs7.get()) == 0 || pkcs7->d.sign == nullptr || pkcs7->d.sign->cert == nullptr) {
    return base::fail("est_answer_invalid", "the central's answer is not a PKCS#7 certs-only (signedData)");
  }
  Certificates certificates;
  const STACK_OF(X509)* stack = pkcs7->d.sign->cert;
  for (int i = 0; i < sk_X509_num(stack); ++i) {
    X509* certificate = sk_X509_value(stack, i);
    X509_up_ref(certificate);
    certificates.emplace_back(certificate);
  }
  if (certificates.empty()) return base::fail("est_answer_invalid", "the central's answer holds no certificate");
  return certificates;
}

base::Result<Certificates> check_issued(Certificates certificates, EVP_PKEY* key, const std::string& common_name) {
  if (certificates.empty()) return base::fail("est_answer_invalid", "the central's answer holds no certificate");
  X509* issued = certificates.front().get();
  if (!certificate_matches_key(issued, key)) {
    return base::fail("issued_wrong_key", "the central answered with a certificate for another key than the new one");
  }
  if (subject_common_name(issued) != common_name) {
    return base::fail("issued_wrong_name", "the central answered with a certificate for CN '" +
                                               subject_common_name(issued) + "', not facility.code " + common_name);
  }
  if (certificates.size() < 2) {
    return base::fail("issued_not_chaining", "the central's answer holds no CA certificate to check the new one against");
  }
  const base::openssl::X509Store store(X509_STORE_new());
  for (std::size_t i = 1; i < certificates.size(); ++i) X509_STORE_add_cert(store.get(), certificates[i].get());
  // The issuing CA may itself be an intermediate: it is the anchor here.
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  const base::openssl::X509StoreContext context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_CTX_init(context.get(), store.get(), issued, nullptr) != 1) {
    throw std::runtime_error("cannot set up a certificate check (OpenSSL)");
  }
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(context.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return base::fail("issued_not_chaining", std::string("the central's new certificate does not check out against "
                                                         "the CA it returned: ") +
                                                 X509_verify_cert_error_string(error));
  }
  return certificates;
}

Validity certificate_validity(X509* certificate) {
  return {to_time_point(X509_get0_notBefore(certificate)), to_time_point(X509_get0_notAfter(certificate))};
}

std::string certificate_serial(X509* certificate) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr);
  if (number == nullptr) return "";
  char* hex = BN_bn2hex(number);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(number);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace medgw::daemon
