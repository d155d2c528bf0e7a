#include <daemon/support/certificates.hpp>

#include <crypto/hash.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json.hpp>
#include <base/openssl_handles.hpp>
#include <base/time_format.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace medgw::daemon {
namespace {

std::string name_text(const X509_NAME* name) {
  base::openssl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::optional<std::chrono::system_clock::time_point> time_of(const ASN1_TIME* time) {
  std::tm when{};
  if (ASN1_TIME_to_tm(time, &when) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&when));
}

CertificateFacts facts_of(X509* cert) {
  CertificateFacts facts;
  facts.subject = name_text(X509_get_subject_name(cert));
  facts.issuer = name_text(X509_get_issuer_name(cert));
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  facts.serial = base::to_hex({ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial))});
  if (const auto start = time_of(X509_get0_notBefore(cert))) facts.not_before = base::rfc3339_utc(*start);
  if (const auto end = time_of(X509_get0_notAfter(cert))) {
    facts.expires = *end;
    facts.not_after = base::rfc3339_utc(*end);
  }
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert, &der);
  if (der_size > 0) {
    facts.sha256_fingerprint = base::to_hex(crypto::sha256({der, static_cast<std::size_t>(der_size)}));
    OPENSSL_free(der);
  }
  unsigned char* spki = nullptr;
  const int spki_size = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
  if (spki_size > 0) {
    facts.spki_pin = "sha256//" + base::base64_encode(crypto::sha256({spki, static_cast<std::size_t>(spki_size)}), true);
    OPENSSL_free(spki);
  }
  return facts;
}

}  // namespace

CertificateFile read_certificates(const std::filesystem::path& file) {
  CertificateFile out;
  const base::openssl::File in(std::fopen(file.c_str(), "rb"));
  if (!in) {
    out.problem = "cannot read " + file.string() + ": " + std::strerror(errno);
    return out;
  }
  while (true) {
    base::openssl::X509Cert cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    out.certificates.push_back(facts_of(cert.get()));
  }
  ERR_clear_error();  // the end of the file reads as an error
  if (out.certificates.empty()) out.problem = file.string() + " holds no PEM certificate";
  return out;
}

std::string certificates_json(const std::vector<std::pair<std::string, std::filesystem::path>>& files,
                              std::chrono::system_clock::time_point now) {
  base::JsonWriter doc;
  doc.begin_object();
  for (const auto& [key, file] : files) {
    doc.key(key).begin_object().field("file", file.string());
    if (file.empty()) {
      doc.field("problem", "not configured").end_object();
      continue;
    }
    const CertificateFile read = read_certificates(file);
    if (!read.problem.empty()) doc.field("problem", read.problem);
    doc.key("certificates").begin_array();
    for (const CertificateFacts& facts : read.certificates) {
      doc.begin_object().field("subject", facts.subject).field("issuer", facts.issuer).field("serial", facts.serial);
      doc.field("not_before", facts.not_before).field("not_after", facts.not_after);
      doc.field("days_left", std::chrono::duration_cast<std::chrono::hours>(facts.expires - now).count() / 24);
      doc.field("sha256_fingerprint", facts.sha256_fingerprint).field("spki_pin", facts.spki_pin).end_object();
    }
    doc.end_array().end_object();
  }
  doc.end_object();
  return doc.take();
}

}  // namespace medgw::daemon
