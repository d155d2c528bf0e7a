#include <daemon/delivery/pem.hpp>

#include <fstream>
#include <iterator>

#include <openssl/err.h>
#include <openssl/pem.h>

namespace medgw::daemon {
namespace {

base::openssl::Bio memory_bio(std::string_view pem) {
  return base::openssl::Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Never prompts: without a password an encrypted key simply fails to open.
int password_callback(char* buffer, int size, int, void* user) {
  const auto* password = static_cast<const std::string*>(user);
  if (password == nullptr || password->empty() || static_cast<int>(password->size()) > size) return 0;
  password->copy(buffer, password->size());
  return static_cast<int>(password->size());
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

}  // namespace

Certificates read_certificates(std::string_view pem) {
  Certificates out;
  const base::openssl::Bio bio = memory_bio(pem);
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(certificate);
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

std::vector<base::openssl::X509Crl> read_crls(std::string_view pem) {
  std::vector<base::openssl::X509Crl> out;
  const base::openssl::Bio bio = memory_bio(pem);
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(crl);
  ERR_clear_error();
  return out;
}

base::openssl::Pkey read_private_key(std::string_view pem, const std::string& password) {
  const base::openssl::Bio bio = memory_bio(pem);
  base::openssl::Pkey key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, &password_callback, const_cast<std::string*>(&password)));
  ERR_clear_error();
  return key;
}

std::string certificates_pem(const Certificates& certificates) {
  const base::openssl::Bio bio(BIO_new(BIO_s_mem()));
  for (const auto& certificate : certificates) PEM_write_bio_X509(bio.get(), certificate.get());
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  const base::openssl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

bool certificate_matches_key(X509* certificate, EVP_PKEY* key) {
  const EVP_PKEY* public_key = X509_get0_pubkey(certificate);
  return public_key != nullptr && key != nullptr && EVP_PKEY_eq(public_key, key) == 1;
}

std::string subject_common_name(X509* certificate) {
  const X509_NAME* name = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return "";
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

bool read_text_file(const std::string& file, std::string& text) {
  std::ifstream in(file, std::ios::binary);
  text.clear();
  if (!in) return false;
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace medgw::daemon
