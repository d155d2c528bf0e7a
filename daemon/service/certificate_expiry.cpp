#include <daemon/service/certificate_expiry.hpp>

#include <base/openssl_handles.hpp>

#include <cstdio>
#include <ctime>
#include <memory>

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace medgw::daemon {

namespace {

std::optional<std::chrono::system_clock::time_point> certificate_time(const std::filesystem::path& file, bool before) {
  const base::openssl::File in(std::fopen(file.c_str(), "rb"));
  if (!in) return std::nullopt;
  const base::openssl::X509Cert cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr));
  std::tm when{};
  if (!cert || ASN1_TIME_to_tm(before ? X509_get0_notBefore(cert.get()) : X509_get0_notAfter(cert.get()), &when) != 1) {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(::timegm(&when));
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> certificate_not_before(const std::filesystem::path& file) {
  return certificate_time(file, true);
}

std::variant<std::chrono::system_clock::time_point, std::string> certificate_not_after(
    const std::filesystem::path& file) {
  const base::openssl::File in(std::fopen(file.c_str(), "rb"));
  if (!in) return "cannot read " + file.string();
  const base::openssl::X509Cert cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr));
  if (!cert) return file.string() + " holds no PEM certificate";
  std::tm when{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &when) != 1) {
    return file.string() + ": the certificate's expiry date cannot be read";
  }
  return std::chrono::system_clock::from_time_t(::timegm(&when));
}

}  // namespace medgw::daemon
