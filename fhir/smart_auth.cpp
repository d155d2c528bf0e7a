#include <fhir/smart_auth.hpp>

#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json.hpp>
#include <base/json_reader.hpp>
#include <base/openssl_handles.hpp>
#include <base/private_file.hpp>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <vector>

namespace medgw::fhir {
namespace {

using base::fail;

std::string base64url(std::string_view bytes) {
  std::string text = base::base64_encode(base::as_bytes(bytes));
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}


struct SigningKey {
  base::openssl::Pkey key;
  std::string alg;  // ES384 or RS384
};

base::Result<SigningKey> load_key(const std::filesystem::path& file) {
  const std::string where = "the SMART signing key " + file.string();
  base::SecureBytes pem;
  try {
    pem = base::read_private_file(file);
  } catch (const std::exception& error) {
    return fail("fhir_auth", error.what());
  }
  base::openssl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SigningKey out{base::openssl::Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)), {}};
  if (!out.key) return fail("fhir_auth", where + " is not a PEM private key (without a passphrase)");
  const int type = EVP_PKEY_get_base_id(out.key.get());
  const int bits = EVP_PKEY_get_bits(out.key.get());
  if (type == EVP_PKEY_EC && bits == 384) {
    out.alg = "ES384";
  } else if (type == EVP_PKEY_RSA && bits >= 2048) {
    out.alg = "RS384";
  } else {
    return fail("fhir_auth", where + " must be an EC P-384 key (ES384) or an RSA key of 2048 bits or more (RS384); make "
                                     "one with: openssl ecparam -name secp384r1 -genkey -noout -out KEY");
  }
  return out;
}

// SHA-384 signature in JWS form: RSA PKCS#1 v1.5, or ECDSA's r || s (48 bytes each).
base::Result<std::string> sign(const SigningKey& key, std::string_view input) {
  base::openssl::MdContext context(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha384(), nullptr, key.key.get()) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return fail("fhir_auth", "OpenSSL cannot sign the client assertion");
  }
  std::vector<unsigned char> signature(length);
  if (EVP_DigestSign(context.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return fail("fhir_auth", "OpenSSL cannot sign the client assertion");
  }
  signature.resize(length);
  if (key.alg == "RS384") return std::string(signature.begin(), signature.end());
  const unsigned char* cursor = signature.data();
  ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(signature.size()));
  if (parsed == nullptr) return fail("fhir_auth", "OpenSSL made an ECDSA signature it cannot read back");
  std::string raw(96, '\0');
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(parsed), reinterpret_cast<unsigned char*>(raw.data()), 48) == 48 &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(parsed), reinterpret_cast<unsigned char*>(raw.data()) + 48, 48) == 48;
  ECDSA_SIG_free(parsed);
  if (!ok) return fail("fhir_auth", "OpenSSL made an ECDSA signature of the wrong size");
  return raw;
}

}  // namespace

base::Result<std::string> client_assertion(const SmartSettings& settings, std::chrono::system_clock::time_point now) {
  auto key = load_key(settings.signing_key);
  if (!key) return fail(key.error());
  base::JsonWriter header;
  header.begin_object().field("alg", key->alg).field("typ", "JWT");
  if (!settings.key_id.empty()) header.field("kid", settings.key_id);
  header.end_object();
  std::vector<std::uint8_t> nonce(16);
  crypto::random_bytes(nonce);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  base::JsonWriter claims;
  claims.begin_object()
      .field("iss", settings.client_id)
      .field("sub", settings.client_id)
      .field("aud", settings.token_url)
      .field("exp", static_cast<std::int64_t>(seconds + 300))
      .field("jti", base::to_hex(nonce))
      .end_object();
  const std::string input = base64url(header.text()) + "." + base64url(claims.text());
  auto signature = sign(*key, input);
  if (!signature) return fail(signature.error());
  return input + "." + base64url(*signature);
}

SmartAuth::SmartAuth(SmartSettings settings, const HttpClient& http) : settings_(std::move(settings)), http_(http) {}

base::Result<std::string> SmartAuth::token() {
  const auto now = std::chrono::steady_clock::now();
  if (!token_.empty() && now + std::chrono::minutes(1) < expires_) return token_;
  auto assertion = client_assertion(settings_, std::chrono::system_clock::now());
  if (!assertion) return fail(assertion.error());
  HttpRequest request;
  request.method = "POST";
  request.url = settings_.token_url;
  request.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  request.body = "grant_type=client_credentials&scope=" + percent_encode(settings_.scope) +
                 "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                 "&client_assertion=" + *assertion;
  request.body_limit = 1U << 20;
  auto response = http_.send(request);
  if (!response) return fail(response.error());
  const std::string where = "the token endpoint at " + host_of(settings_.token_url);
  if (response->status == 400 || response->status == 401) {
    return fail("fhir_auth", where + " refused medgw's client assertion (HTTP " + std::to_string(response->status) +
                                 "): check that client_id and the public key of signing_key are registered there");
  }
  if (response->status != 200) return fail("fhir_auth", where + " answered HTTP " + std::to_string(response->status));
  try {
    const base::JsonValue answer = base::JsonValue::parse(response->body);
    token_ = answer.string_at("access_token");
    const base::JsonValue* expires_in = answer.find("expires_in");
    const std::uint64_t seconds = expires_in != nullptr && expires_in->as_uint() ? *expires_in->as_uint() : 300;
    expires_ = now + std::chrono::seconds(std::min<std::uint64_t>(seconds, 86400));
  } catch (const base::JsonError&) {
    return fail("fhir_auth", where + " answered without an access_token");
  }
  return token_;
}

}  // namespace medgw::fhir
