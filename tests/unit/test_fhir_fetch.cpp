// What the FHIR source's REST and Bulk Data modes compute without a server:
// FHIR instants (watermarks compare across time zones and precisions),
// Retry-After, origins (the token goes to one origin only), and the SMART
// Backend Services client assertion, verified here with OpenSSL.
#include <fhir/fhir_http.hpp>
#include <fhir/instant.hpp>
#include <fhir/smart_auth.hpp>

#include <base/base64.hpp>
#include <base/json_reader.hpp>
#include <base/private_file.hpp>

#include <catch2/catch.hpp>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <filesystem>
#include <string>

using namespace medgw::fhir;
namespace fs = std::filesystem;

namespace {

std::string from_base64url(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  auto bytes = medgw::base::base64_decode_canonical(text);
  REQUIRE(bytes);
  return {bytes->begin(), bytes->end()};
}

// A fresh key of `type` written as PEM (0600) to a temporary file.
fs::path write_key(EVP_PKEY* key, const std::string& name) {
  const fs::path file = fs::temp_directory_path() / ("medgw-unit-" + std::to_string(::getpid()) + "-" + name);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  fs::remove(file);
  medgw::base::create_private_file(file, medgw::base::as_bytes(std::string_view(data, static_cast<std::size_t>(size))));
  BIO_free(bio);
  return file;
}

// Verifies a JWS signature (ES384 as r || s, RS384) with the key's public half.
bool verifies(EVP_PKEY* key, const std::string& input, std::string signature, bool ecdsa) {
  if (ecdsa) {
    REQUIRE(signature.size() == 96);
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 48, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 48, 48, nullptr));
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(sig, &der);
    signature.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(context, nullptr, EVP_sha384(), nullptr, key) == 1 &&
                  EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(context);
  return ok;
}

}  // namespace

TEST_CASE("FHIR instants: time zones and precisions compare as one clock", "[fhir]") {
  const auto utc = parse_instant("2026-12-02T01:00:00Z");
  const auto tokyo = parse_instant("2026-12-02T10:00:00.000+09:00");
  REQUIRE(utc);
  CHECK(utc == tokyo);
  CHECK(*parse_instant("2026-12-02T01:00:00.123456789Z") - *utc == 123456);
  CHECK(*parse_instant("2026-12-02T01:00:00.5Z") - *utc == 500000);
  CHECK(format_instant(*utc + 1) == "2026-12-02T01:00:00.000001Z");
  CHECK(format_instant(*parse_instant("1969-12-31T23:59:59.5Z")) == "1969-12-31T23:59:59.500000Z");
  CHECK(parse_instant(format_instant(*tokyo - 300'000'000)) == *utc - 300'000'000);
  CHECK_FALSE(parse_instant("2026-12-02"));                // a date is no instant
  CHECK_FALSE(parse_instant("2026-12-02T01:00:00"));       // no time zone
  CHECK_FALSE(parse_instant("2026-02-30T01:00:00Z"));      // no such day
  CHECK_FALSE(parse_instant("2026-12-02T01:00:00.Z"));
}

TEST_CASE("origins decide where the access token may go, Retry-After is bounded", "[fhir]") {
  CHECK(origin_of("https://EHR.example.jp/fhir/R4/Patient?x=1") == "https://ehr.example.jp:443");
  CHECK(origin_of("http://127.0.0.1:8080/fhir") == "http://127.0.0.1:8080");
  CHECK(origin_of("http://127.0.0.1:8080/a") != origin_of("http://127.0.0.2:8080/a"));
  CHECK(origin_of("http://127.0.0.1/a") != origin_of("https://127.0.0.1/a"));
  CHECK(origin_of("ftp://x/y").empty());
  CHECK(host_of("https://user:pw@ehr.example.jp:8443/fhir") == "ehr.example.jp:8443");
  HttpResponse response;
  CHECK(retry_after_seconds(response, 7) == 7);
  response.headers["retry-after"] = "120";
  CHECK(retry_after_seconds(response, 7) == 120);
  response.headers["retry-after"] = "99999999";
  CHECK(retry_after_seconds(response, 7) == 3600);
  response.headers["retry-after"] = "0";
  CHECK(retry_after_seconds(response, 7) == 1);
  response.headers["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT";  // in the past
  CHECK(retry_after_seconds(response, 7) == 1);
  response.headers["retry-after"] = "soon";
  CHECK(retry_after_seconds(response, 7) == 7);
}

TEST_CASE("SMART client assertion: ES384 and RS384 signatures verify, claims as the spec asks", "[fhir]") {
  const bool ecdsa = GENERATE(true, false);
  EVP_PKEY* key = ecdsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  REQUIRE(key != nullptr);
  const fs::path file = write_key(key, ecdsa ? "ec.pem" : "rsa.pem");
  SmartSettings settings{"https://ehr.example.jp/auth/token", "medgw-131234567", file, "key-1"};
  const auto now = std::chrono::system_clock::now();
  auto jwt = client_assertion(settings, now);
  REQUIRE(jwt);
  const std::size_t first = jwt->find('.');
  const std::size_t second = jwt->find('.', first + 1);
  REQUIRE(second != std::string::npos);
  const auto header = medgw::base::JsonValue::parse(from_base64url(jwt->substr(0, first)));
  const auto claims = medgw::base::JsonValue::parse(from_base64url(jwt->substr(first + 1, second - first - 1)));
  CHECK(header.string_at("alg") == (ecdsa ? "ES384" : "RS384"));
  CHECK(header.string_at("typ") == "JWT");
  CHECK(header.string_at("kid") == "key-1");
  CHECK(claims.string_at("iss") == "medgw-131234567");
  CHECK(claims.string_at("sub") == "medgw-131234567");
  CHECK(claims.string_at("aud") == "https://ehr.example.jp/auth/token");
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  CHECK(claims.uint_at("exp") == static_cast<std::uint64_t>(seconds + 300));
  CHECK(claims.string_at("jti").size() == 32);
  CHECK(verifies(key, jwt->substr(0, second), from_base64url(jwt->substr(second + 1)), ecdsa));
  // Two assertions never share a jti (the server refuses replays).
  auto again = client_assertion(settings, now);
  REQUIRE(again);
  const std::size_t again_first = again->find('.');
  const auto again_claims = medgw::base::JsonValue::parse(
      from_base64url(again->substr(again_first + 1, again->find('.', again_first + 1) - again_first - 1)));
  CHECK(again_claims.string_at("jti") != claims.string_at("jti"));
  EVP_PKEY_free(key);
  fs::remove(file);
}

TEST_CASE("SMART signing keys: a P-256 key is refused by name, a readable key file too", "[fhir]") {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  const fs::path file = write_key(key, "p256.pem");
  auto jwt = client_assertion({"https://ehr/token", "c", file, ""}, std::chrono::system_clock::now());
  REQUIRE_FALSE(jwt);
  CHECK(jwt.error().message.find(file.string()) != std::string::npos);
  CHECK(jwt.error().message.find("P-384") != std::string::npos);
  fs::permissions(file, fs::perms::owner_read | fs::perms::group_read);
  auto readable = client_assertion({"https://ehr/token", "c", file, ""}, std::chrono::system_clock::now());
  REQUIRE_FALSE(readable);
  fs::remove(file);
  EVP_PKEY_free(key);
}
