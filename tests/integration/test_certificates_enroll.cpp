// The gateway's side of EST without a socket (daemon/delivery/enrollment.hpp,
// est_client.hpp) and the renewal schedule (daemon/service/certificate_job.hpp),
// checked against certificates and PKCS#7 answers made by the openssl command.
#include "cert_fixture.hpp"

#include <daemon/delivery/est_client.hpp>
#include <daemon/service/certificate_job.hpp>

#include <base/base64.hpp>

#include <openssl/ec.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

namespace gw = medgw::daemon;
namespace certs = medgw::test::certs;
using medgw::test::TempDir;
using medgw::test::read_file;
using medgw::test::write_file;

namespace {

std::string base64(const std::string& bytes) {
  return medgw::base::base64_encode(
      medgw::base::ByteView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), true);
}

}  // namespace

TEST_CASE("enrollment: the CSR is for the new P-256 key, CN=facility, signed with SHA-256", "[cert][enroll]") {
  const auto key = gw::generate_p256_key();
  CHECK(EVP_PKEY_is_a(key.get(), "EC") == 1);
  char group[64] = {};
  std::size_t length = 0;
  REQUIRE(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &length) == 1);
  CHECK(std::string(group) == "prime256v1");

  const std::string der = gw::make_csr_der(key.get(), "131234567");
  const unsigned char* in = reinterpret_cast<const unsigned char*>(der.data());
  const medgw::base::openssl::X509Request request(d2i_X509_REQ(nullptr, &in, static_cast<long>(der.size())));
  REQUIRE(request);
  CHECK(X509_REQ_verify(request.get(), key.get()) == 1);
  CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(request.get()), key.get()) == 1);
  CHECK(X509_REQ_get_signature_nid(request.get()) == NID_ecdsa_with_SHA256);
  const X509_NAME* subject = X509_REQ_get_subject_name(request.get());
  CHECK(X509_NAME_entry_count(subject) == 1);
  char cn[64] = {};
  CHECK(X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(subject), NID_commonName, cn, sizeof cn) == 9);
  CHECK(std::string(cn) == "131234567");

  // The stock tool agrees: the request's signature verifies.
  TempDir dir;
  write_file(dir / "csr.der", der);
  certs::sh("openssl req -inform DER -in " + certs::arg(dir / "csr.der") + " -verify -noout");
  // Another key's signature does not.
  const auto other = gw::generate_p256_key();
  CHECK(X509_REQ_verify(request.get(), other.get()) != 1);
}

TEST_CASE("enrollment: an EST answer gives its certificates in order, line breaks allowed", "[cert][enroll]") {
  TempDir dir;
  certs::make_ca(dir, "issuing");
  const auto issued = certs::key_and_certificate(dir, "issuing", "131234567", "client");
  const std::string body = certs::est_answer(dir, {"client", "issuing"});
  REQUIRE(body.find('\n') != std::string::npos);
  const auto parsed = gw::parse_est_certificates(body);
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 2);
  CHECK(X509_cmp(parsed->at(0).get(), issued.front().get()) == 0);
  CHECK(gw::subject_common_name(parsed->at(1).get()) == "issuing");
}

TEST_CASE("enrollment: garbage, truncated, empty or non-signedData answers are refused", "[cert][enroll]") {
  TempDir dir;
  certs::make_ca(dir, "issuing");
  (void)certs::key_and_certificate(dir, "issuing", "131234567", "client");
  (void)certs::est_answer(dir, {"client", "issuing"});
  const std::string der = read_file(dir / "answer.p7");

  for (const std::string& body : {std::string(), std::string("\r\n"), std::string("not base64 at all!"),
                                  base64("hello, this is no PKCS#7"), base64(der.substr(0, der.size() / 2)),
                                  base64(der.substr(0, der.size() - 1)), base64(der + "trailing")}) {
    const auto parsed = gw::parse_est_certificates(body);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == "est_answer_invalid");
  }

  // A well-formed PKCS#7 of another type (data) is no certs-only answer.
  const medgw::base::openssl::Pkcs7 data(PKCS7_new());
  REQUIRE(PKCS7_set_type(data.get(), NID_pkcs7_data) == 1);
  unsigned char* encoded = nullptr;
  const int length = i2d_PKCS7(data.get(), &encoded);
  REQUIRE(length > 0);
  const std::string data_der(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
  OPENSSL_free(encoded);
  const auto parsed = gw::parse_est_certificates(base64(data_der));
  REQUIRE_FALSE(parsed);
  CHECK_THAT(parsed.error().message, Catch::Contains("certs-only"));

  // signedData without any certificate.
  certs::sh("openssl crl2pkcs7 -nocrl -outform DER -out " + certs::arg(dir / "empty.p7"));
  const auto empty = gw::parse_est_certificates(base64(read_file(dir / "empty.p7")));
  CHECK_FALSE(empty);
}

TEST_CASE("enrollment: the issued certificate must be for the new key and facility and chain to the CA", "[cert][enroll]") {
  TempDir dir;
  certs::make_ca(dir, "issuing");
  certs::make_ca(dir, "stranger");
  const auto key = gw::generate_p256_key();
  certs::issue(dir, "issuing", gw::make_csr_der(key.get(), "131234567"), "good");
  const auto answer = [&](const std::vector<std::string>& names) {
    auto parsed = gw::parse_est_certificates(certs::est_answer(dir, names));
    REQUIRE(parsed);
    return std::move(*parsed);
  };

  const auto checked = gw::check_issued(answer({"good", "issuing"}), key.get(), "131234567");
  REQUIRE(checked);
  CHECK(checked->size() == 2);

  SECTION("another key") {
    const auto other = gw::generate_p256_key();
    const auto refused = gw::check_issued(answer({"good", "issuing"}), other.get(), "131234567");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == "issued_wrong_key");
  }
  SECTION("another facility") {
    const auto refused = gw::check_issued(answer({"good", "issuing"}), key.get(), "139999999");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == "issued_wrong_name");
    certs::issue(dir, "issuing", gw::make_csr_der(key.get(), "139999999"), "other_cn");
    CHECK(gw::check_issued(answer({"other_cn", "issuing"}), key.get(), "131234567").error().code ==
          "issued_wrong_name");
  }
  SECTION("not chaining to the CA of the answer, or no CA at all") {
    const auto stranger = gw::check_issued(answer({"good", "stranger"}), key.get(), "131234567");
    REQUIRE_FALSE(stranger);
    CHECK(stranger.error().code == "issued_not_chaining");
    certs::issue(dir, "stranger", gw::make_csr_der(key.get(), "131234567"), "by_stranger");
    CHECK(gw::check_issued(answer({"by_stranger", "issuing"}), key.get(), "131234567").error().code ==
          "issued_not_chaining");
    CHECK(gw::check_issued(answer({"good"}), key.get(), "131234567").error().code == "issued_not_chaining");
  }
}

TEST_CASE("enrollment: the ticket file, and errors that never quote the ticket", "[cert][enroll]") {
  const std::string secret = "q7Vb3xY_kP0-aZ9sT2mN4cR8wE1uL6hJ5gF0dS3aQwE";
  const auto ticket = gw::parse_ticket(
      "# medgw enrollment ticket: facility 131234567, valid until 2026-12-09T01:00:00Z, single use\n"
      "facility: 131234567\r\nticket: " + secret + "\n",
      "t.txt");
  REQUIRE(ticket);
  CHECK(ticket->facility == "131234567");
  CHECK(ticket->ticket == secret);

  const auto missing = gw::parse_ticket("facility: 131234567\n", "t.txt");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::StartsWith("t.txt: "));
  const auto bad = gw::parse_ticket("facility: 131234567\nticket " + secret + "\n", "t.txt");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::StartsWith("t.txt:2: "));
  CHECK(bad.error().message.find(secret) == std::string::npos);
  const auto odd = gw::parse_ticket("facility: 131234567\nticket: " + secret + "!\n", "t.txt");
  REQUIRE_FALSE(odd);
  CHECK(odd.error().message.find(secret) == std::string::npos);
}

TEST_CASE("enrollment: EST URLs are at the origin of central.url", "[cert][enroll]") {
  CHECK(*gw::est_url("https://central.example:8443/files/", "simpleenroll") ==
        "https://central.example:8443/.well-known/est/simpleenroll");
  CHECK(*gw::est_url("https://central.example/a/b?x=1", "simplereenroll") ==
        "https://central.example/.well-known/est/simplereenroll");
  CHECK(gw::refusal_reason("ticket expired: ask for a new one\nmore\n") == "ticket expired: ask for a new one");
  CHECK(gw::refusal_reason("bad\x01thing") == "bad?thing");
}

TEST_CASE("renewal: due at renew_at of the lifetime, back-off 1 min doubling to 1 h", "[cert][renewal]") {
  using namespace std::chrono_literals;
  const std::chrono::system_clock::time_point start{std::chrono::seconds(1'800'000'000)};
  CHECK(gw::renewal_due(start, start + 90 * 24h, 67) == start + 60 * 24h + 7 * 3600s + 12 * 60s);
  CHECK(gw::renewal_due(start, start + 100s, 50) == start + 50s);
  CHECK(gw::renewal_due(start, start + 100s, 0) == std::chrono::system_clock::time_point::max());
  CHECK(gw::renewal_due(start, start + 3650 * 24h, 95) > start + 3467 * 24h);  // no overflow
  CHECK(gw::renewal_backoff(1) == 60s);
  CHECK(gw::renewal_backoff(2) == 120s);
  CHECK(gw::renewal_backoff(6) == 1920s);
  CHECK(gw::renewal_backoff(7) == 3600s);
  CHECK(gw::renewal_backoff(100) == 3600s);
}
