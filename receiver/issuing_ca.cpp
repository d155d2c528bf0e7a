#include <receiver/issuing_ca.hpp>

#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/openssl_handles.hpp>
#include <base/private_file.hpp>

#include <array>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

namespace medgw::receiver {
namespace {

using Req = base::CHandle<X509_REQ, X509_REQ_free>;
using Pkcs7 = base::CHandle<PKCS7, PKCS7_free>;
using Crl = base::CHandle<X509_CRL, X509_CRL_free>;
using Name = base::CHandle<X509_NAME, X509_NAME_free>;
using Extension = base::CHandle<X509_EXTENSION, X509_EXTENSION_free>;
using BigNum = base::CHandle<BIGNUM, BN_free>;
using Integer = base::CHandle<ASN1_INTEGER, ASN1_INTEGER_free>;
using Time = base::CHandle<ASN1_TIME, ASN1_TIME_free>;
using Revoked = base::CHandle<X509_REVOKED, X509_REVOKED_free>;

constexpr std::string_view issued_organization = "medgw gateway";

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

base::openssl::Bio memory_bio(std::string_view text) {
  return base::openssl::Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

template <class T, int (*Encode)(const T*, unsigned char**)>
Der to_der(const T* object) {
  const int length = Encode(object, nullptr);
  if (length <= 0) return {};
  Der out(static_cast<std::size_t>(length));
  unsigned char* cursor = out.data();
  Encode(object, &cursor);
  return out;
}

Der public_key_der(const EVP_PKEY* key) {
  return to_der<EVP_PKEY, i2d_PUBKEY>(key);
}

std::int64_t time_ms(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  const BigNum number(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!number) return {};
  char* hex = BN_bn2hex(number.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// Every CN of a name (a CSR may carry several).
std::vector<std::string> common_names(const X509_NAME* name) {
  std::vector<std::string> out;
  for (int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1); at >= 0;
       at = X509_NAME_get_index_by_NID(name, NID_commonName, at)) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
  }
  return out;
}

// Why a key is too weak to accept, or empty; `kind` says what it is.
std::string weak_key(const EVP_PKEY* key, std::string& kind) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_get_bits(key);
      kind = "RSA " + std::to_string(bits);
      return bits < 2048 ? "the CSR's key is RSA with " + std::to_string(bits) + " bits: at least 2048 are required"
                         : "";
    }
    case EVP_PKEY_EC: {
      std::array<char, 64> group{};
      std::size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &length) != 1) {
        return "the CSR's EC key names no curve";
      }
      const std::string_view curve(group.data(), length);
      kind = curve == "prime256v1" ? "EC P-256" : curve == "secp384r1" ? "EC P-384" : curve == "secp521r1" ? "EC P-521" : "";
      return kind.empty() ? "the CSR's EC key is on curve " + std::string(curve) + ": use P-256, P-384 or P-521" : "";
    }
    case EVP_PKEY_ED25519:
      kind = "Ed25519";
      return "";
    default:
      return "the CSR's key type is not accepted: use EC P-256 (or P-384, P-521, RSA of 2048 bits or more, Ed25519)";
  }
}

// SHA-256 for RSA and EC keys; none for EdDSA, which hashes itself.
const EVP_MD* digest_for(const EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
}

bool add_extension(X509* certificate, X509V3_CTX& context, const char* name, const char* value) {
  const Extension extension(X509V3_EXT_conf(nullptr, &context, name, value));
  return extension && X509_add_ext(certificate, extension.get(), -1) == 1;
}

// OpenSSL's last reason, for the operator's log (never a secret).
std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "OpenSSL gave no reason";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

}  // namespace

PeerCertificate describe_certificate(const X509* certificate) {
  PeerCertificate out;
  if (certificate == nullptr) return out;
  out.serial = serial_hex(X509_get0_serialNumber(certificate));
  out.not_before_ms = time_ms(X509_get0_notBefore(certificate));
  out.not_after_ms = time_ms(X509_get0_notAfter(certificate));
  out.public_key = public_key_der(X509_get0_pubkey(certificate));
  return out;
}

std::string crl_pem(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  const Crl crl(d2i_X509_CRL(nullptr, &cursor, static_cast<long>(der.size())));
  const base::openssl::Bio bio(BIO_new(BIO_s_mem()));
  if (!crl || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) return {};
  return bio_text(bio.get());
}

std::optional<Der> decode_est_base64(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (const char c : text) {
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact.push_back(c);
  }
  const auto bytes = base::base64_decode_padded(compact);
  if (!bytes || bytes->empty()) return std::nullopt;
  return Der(bytes->begin(), bytes->end());
}

std::string encode_est_base64(std::span<const std::uint8_t> der) {
  const std::string flat = base::base64_encode(base::ByteView(der.data(), der.size()), true);
  std::string out;
  out.reserve(flat.size() + flat.size() / 64 + 1);
  for (std::size_t at = 0; at < flat.size(); at += 64) out.append(flat, at, 64).push_back('\n');
  return out;
}

struct IssuingCa::State {
  std::vector<base::openssl::X509Cert> chain;  // the CA first
  base::openssl::Pkey key;                     // empty: an external signer signs
  std::chrono::seconds validity{};
};

IssuingCa::IssuingCa(const Options& options) : state_(std::make_unique<State>()) {
  state_->validity = options.validity;
  const std::string pem = read_text(options.cert);
  const auto bio = memory_bio(pem);
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    state_->chain.emplace_back(certificate);
  }
  if (state_->chain.empty()) throw std::runtime_error(options.cert.string() + ": no PEM certificate in the file");
  if (X509_check_ca(state_->chain.front().get()) < 1) {
    throw std::runtime_error(options.cert.string() + ": the first certificate is not a CA (basicConstraints CA:TRUE)");
  }
  if (options.key.empty()) return;
  const base::SecureBytes secret = base::read_private_file(options.key);
  const auto key_bio = memory_bio(std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  state_->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!state_->key) throw std::runtime_error(options.key.string() + ": no PEM private key in the file");
  if (X509_check_private_key(state_->chain.front().get(), state_->key.get()) != 1) {
    throw std::runtime_error(options.key.string() + ": this key does not belong to the CA certificate " +
                             options.cert.string());
  }
}

IssuingCa::~IssuingCa() = default;
IssuingCa::IssuingCa(IssuingCa&&) noexcept = default;
IssuingCa& IssuingCa::operator=(IssuingCa&&) noexcept = default;

bool IssuingCa::can_sign() const {
  return static_cast<bool>(state_->key);
}

base::Result<CheckedCsr> IssuingCa::check_csr(std::span<const std::uint8_t> der, std::string_view facility) const {
  const unsigned char* cursor = der.data();
  const Req request(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(der.size())));
  if (!request || cursor != der.data() + der.size()) {
    return base::fail("csr_unreadable", "the body is not a PKCS#10 certificate request (base64 of its DER form)");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(request.get());
  if (key == nullptr) return base::fail("csr_unreadable", "the certificate request holds no readable public key");
  if (X509_REQ_verify(request.get(), key) != 1) {
    return base::fail("csr_signature", "the certificate request's signature does not verify with its own key");
  }
  CheckedCsr out;
  if (const std::string weak = weak_key(key, out.key_kind); !weak.empty()) return base::fail("weak_key", weak);
  for (const std::string& name : common_names(X509_REQ_get_subject_name(request.get()))) {
    if (name != facility) {
      return base::fail("wrong_facility", "the certificate request names CN=" + name.substr(0, 64) +
                                              ", but this enrollment is for facility " + std::string(facility));
    }
  }
  out.public_key = public_key_der(key);
  const base::openssl::Bio pem(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(pem.get(), request.get());
  out.pem = bio_text(pem.get());
  return out;
}

base::Result<IssuedCertificate> IssuingCa::issue(const CheckedCsr& csr, std::string_view facility) const {
  if (!state_->key) return base::fail("no_ca_key", "this receiver signs with an external command");
  const X509* ca = state_->chain.front().get();
  const unsigned char* cursor = csr.public_key.data();
  const base::openssl::Pkey subject_key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(csr.public_key.size())));
  base::openssl::X509Cert certificate(X509_new());
  // A positive 128-bit serial with its top byte set, so every serial has 16 bytes.
  std::array<std::uint8_t, 16> random{};
  crypto::random_bytes(random);
  random[0] = static_cast<std::uint8_t>((random[0] & 0x7F) | 0x40);
  const BigNum number(BN_bin2bn(random.data(), static_cast<int>(random.size()), nullptr));
  const Integer serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
  Name subject(X509_NAME_new());
  const std::string code(facility);
  bool ok = subject_key && certificate && serial && subject &&
            X509_set_version(certificate.get(), X509_VERSION_3) == 1 &&
            X509_set_serialNumber(certificate.get(), serial.get()) == 1 &&
            X509_set_issuer_name(certificate.get(), X509_get_subject_name(ca)) == 1 &&
            X509_NAME_add_entry_by_txt(subject.get(), "O", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(issued_organization.data()),
                                       static_cast<int>(issued_organization.size()), -1, 0) == 1 &&
            X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(code.data()),
                                       static_cast<int>(code.size()), -1, 0) == 1 &&
            X509_set_subject_name(certificate.get(), subject.get()) == 1 &&
            X509_set_pubkey(certificate.get(), subject_key.get()) == 1;
  const std::time_t now = std::time(nullptr);
  ok = ok && ASN1_TIME_set(X509_getm_notBefore(certificate.get()), now - 60) != nullptr &&
       ASN1_TIME_set(X509_getm_notAfter(certificate.get()), now + state_->validity.count()) != nullptr;
  X509V3_CTX context;
  X509V3_set_ctx(&context, const_cast<X509*>(ca), certificate.get(), nullptr, nullptr, 0);
  ok = ok && add_extension(certificate.get(), context, "basicConstraints", "critical,CA:FALSE") &&
       add_extension(certificate.get(), context, "keyUsage", "critical,digitalSignature") &&
       add_extension(certificate.get(), context, "extendedKeyUsage", "clientAuth") &&
       add_extension(certificate.get(), context, "subjectKeyIdentifier", "hash") &&
       // A CA certificate without a subject key identifier gets none named.
       (X509_get0_subject_key_id(const_cast<X509*>(ca)) == nullptr ||
        add_extension(certificate.get(), context, "authorityKeyIdentifier", "keyid")) &&
       X509_sign(certificate.get(), state_->key.get(), digest_for(state_->key.get())) > 0;
  if (!ok) return base::fail("signing_failed", "the CA could not sign the certificate: " + openssl_reason());
  IssuedCertificate out;
  out.der = to_der<X509, i2d_X509>(certificate.get());
  const PeerCertificate described = describe_certificate(certificate.get());
  out.serial = described.serial;
  out.not_before_ms = described.not_before_ms;
  out.not_after_ms = described.not_after_ms;
  return out;
}

base::Result<IssuedCertificate> IssuingCa::accept_signed(const CheckedCsr& csr, std::string_view facility,
                                                         std::string_view pem) const {
  const auto bio = memory_bio(pem);
  const base::openssl::X509Cert certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!certificate) return base::fail("signer_output", "the signing command printed no PEM certificate");
  const PeerCertificate described = describe_certificate(certificate.get());
  const auto names = common_names(X509_get_subject_name(certificate.get()));
  if (described.public_key != csr.public_key) {
    return base::fail("signer_output", "the signing command's certificate is not for the request's key");
  }
  if (names.size() != 1 || names.front() != facility) {
    return base::fail("signer_output", "the signing command's certificate is not for CN=" + std::string(facility));
  }
  if (X509_verify(certificate.get(), X509_get0_pubkey(state_->chain.front().get())) != 1) {
    return base::fail("signer_output", "the signing command's certificate is not signed by ca.cert");
  }
  IssuedCertificate out;
  out.der = to_der<X509, i2d_X509>(certificate.get());
  out.serial = described.serial;
  out.not_before_ms = described.not_before_ms;
  out.not_after_ms = described.not_after_ms;
  return out;
}

Der IssuingCa::certs_only(std::span<const std::uint8_t> leaf) const {
  const Pkcs7 bundle(PKCS7_new());
  if (!bundle || PKCS7_set_type(bundle.get(), NID_pkcs7_signed) != 1 ||
      PKCS7_content_new(bundle.get(), NID_pkcs7_data) != 1) {
    throw std::runtime_error("cannot make a PKCS#7 structure (OpenSSL)");
  }
  if (!leaf.empty()) {
    const unsigned char* cursor = leaf.data();
    const base::openssl::X509Cert certificate(d2i_X509(nullptr, &cursor, static_cast<long>(leaf.size())));
    if (!certificate) throw std::runtime_error("an issued certificate could not be read back");
    PKCS7_add_certificate(bundle.get(), certificate.get());
  }
  for (const auto& certificate : state_->chain) PKCS7_add_certificate(bundle.get(), certificate.get());
  return to_der<PKCS7, i2d_PKCS7>(bundle.get());
}

base::Result<Der> IssuingCa::crl(const std::vector<RevokedSerial>& revoked, std::chrono::seconds next_update) const {
  if (!state_->key) return base::fail("no_ca_key", "no CRL: this receiver signs with an external command");
  const Crl list(X509_CRL_new());
  const std::time_t now = std::time(nullptr);
  const Time this_update(ASN1_TIME_set(nullptr, now));
  const Time next(ASN1_TIME_set(nullptr, now + next_update.count()));
  bool ok = list && this_update && next && X509_CRL_set_version(list.get(), X509_CRL_VERSION_2) == 1 &&
            X509_CRL_set_issuer_name(list.get(), X509_get_subject_name(state_->chain.front().get())) == 1 &&
            X509_CRL_set1_lastUpdate(list.get(), this_update.get()) == 1 &&
            X509_CRL_set1_nextUpdate(list.get(), next.get()) == 1;
  for (const RevokedSerial& entry : revoked) {
    if (!ok) break;
    BIGNUM* parsed = nullptr;
    if (BN_hex2bn(&parsed, entry.serial.c_str()) == 0) continue;  // not a hex serial: nothing to list
    const BigNum number(parsed);
    const Integer serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
    const Time when(ASN1_TIME_set(nullptr, static_cast<std::time_t>(entry.revoked_ms / 1000)));
    Revoked item(X509_REVOKED_new());
    ok = serial && when && item && X509_REVOKED_set_serialNumber(item.get(), serial.get()) == 1 &&
         X509_REVOKED_set_revocationDate(item.get(), when.get()) == 1 &&
         X509_CRL_add0_revoked(list.get(), item.get()) == 1;
    if (ok) static_cast<void>(item.release());
  }
  ok = ok && X509_CRL_sort(list.get()) == 1 && X509_CRL_sign(list.get(), state_->key.get(), digest_for(state_->key.get())) > 0;
  if (!ok) return base::fail("crl_failed", "the CA could not sign the CRL: " + openssl_reason());
  return to_der<X509_CRL, i2d_X509_CRL>(list.get());
}

}  // namespace medgw::receiver
