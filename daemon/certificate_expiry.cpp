#include <daemon/certificate_expiry.hpp>

#include <cstdio>
#include <ctime>
#include <memory>

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace medgw::daemon {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};
struct X509Deleter {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};

}  // namespace

std::variant<std::chrono::system_clock::time_point, std::string> certificate_not_after(
    const std::filesystem::path& file) {
  const std::unique_ptr<std::FILE, FileCloser> in(std::fopen(file.c_str(), "rb"));
  if (!in) return "cannot read " + file.string();
  const std::unique_ptr<X509, X509Deleter> cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr));
  if (!cert) return file.string() + " holds no PEM certificate";
  std::tm when{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &when) != 1) {
    return file.string() + ": the certificate's expiry date cannot be read";
  }
  return std::chrono::system_clock::from_time_t(::timegm(&when));
}

}  // namespace medgw::daemon
