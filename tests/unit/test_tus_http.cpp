// The HTTP side of delivery without a socket: the TLS/proxy profile built from
// central.* (daemon/delivery/http_profile.hpp) and how curl's failures count
// (daemon/delivery/http_exchange.hpp).
#include <daemon/delivery/http_exchange.hpp>
#include <daemon/delivery/http_profile.hpp>

#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <filesystem>

#include <sys/stat.h>

namespace delivery = medgw::daemon;
using medgw::daemon::tus::TransportError;

namespace {

delivery::CentralConfig central_config() {
  delivery::CentralConfig central;
  central.url = "https://central.test/files/";
  central.ca = "/etc/medgw/tls/ca.pem";
  central.cert = "/etc/medgw/tls/client.pem";
  central.key = "/etc/medgw/tls/client.key";
  return central;
}

}  // namespace

TEST_CASE("http profile: TLS 1.3 by default, 1.2 only when central.tls_min says so", "[tus][http]") {
  delivery::CentralConfig central = central_config();
  auto profile = delivery::make_http_profile(central);
  REQUIRE(profile);
  CHECK(profile->tls_version == CURL_SSLVERSION_TLSv1_3);
  CHECK(profile->ca == "/etc/medgw/tls/ca.pem");
  CHECK(profile->cert == "/etc/medgw/tls/client.pem");
  CHECK(profile->key == "/etc/medgw/tls/client.key");
  CHECK(profile->key_password.empty());
  CHECK(profile->pins.empty());
  CHECK(profile->proxy.empty());  // empty: *_proxy variables are ignored too

  central.tls_min = "1.2";
  central.pins = {"sha256//AAAA", "sha256//BBBB"};
  central.proxy = "http://proxy.hospital.test:3128";
  profile = delivery::make_http_profile(central);
  REQUIRE(profile);
  CHECK(profile->tls_version == CURL_SSLVERSION_TLSv1_2);
  CHECK(profile->pins == "sha256//AAAA;sha256//BBBB");
  CHECK(profile->proxy == "http://proxy.hospital.test:3128");
  CHECK(delivery::HttpProfile::connect_timeout_s == 30);
  CHECK(delivery::HttpProfile::low_speed_limit == 1);
  CHECK(delivery::HttpProfile::low_speed_time_s == 60);
}

TEST_CASE("http profile: the key password file is read, its line end dropped", "[tus][http]") {
  medgw::test::TempDir dir;
  const auto file = dir / "key.pass";
  medgw::test::write_file(file, "s3cret pass\r\n");
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  delivery::CentralConfig central = central_config();
  central.key_password_file = file;
  const auto profile = delivery::make_http_profile(central);
  REQUIRE(profile);
  CHECK(profile->key_password == "s3cret pass");

  // Readable by others, or missing: refused, naming the setting.
  std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  const auto exposed = delivery::make_http_profile(central);
  REQUIRE_FALSE(exposed);
  CHECK(exposed.error().code == "key_password_unreadable");
  CHECK_THAT(exposed.error().message, Catch::StartsWith("central.key_password_file: "));
  central.key_password_file = dir / "missing.pass";
  CHECK_FALSE(delivery::make_http_profile(central));
}

TEST_CASE("http: curl failures by class - TLS refusals, including a TLS alert on read", "[tus][http]") {
  for (const CURLcode code : {CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CERTPROBLEM,
                              CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR}) {
    CHECK(delivery::transport_error(code, "") == TransportError::tls_refused);
  }
  // How TLS 1.3 reports a client certificate the server refused.
  CHECK(delivery::transport_error(CURLE_RECV_ERROR, "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert "
                                                  "certificate required, errno 0") == TransportError::tls_refused);
  CHECK(delivery::transport_error(CURLE_SEND_ERROR, "SSL_write: tlsv1 alert unknown ca") == TransportError::tls_refused);
  CHECK(delivery::transport_error(CURLE_RECV_ERROR, "Connection reset by peer") == TransportError::other);
  CHECK(delivery::transport_error(CURLE_OPERATION_TIMEDOUT, "") == TransportError::timeout);
  CHECK(delivery::transport_error(CURLE_COULDNT_CONNECT, "") == TransportError::connect);
  CHECK(delivery::transport_error(CURLE_COULDNT_RESOLVE_HOST, "") == TransportError::connect);
  CHECK(delivery::transport_error(CURLE_GOT_NOTHING, "") == TransportError::other);
  CHECK(delivery::transport_error(CURLE_ABORTED_BY_CALLBACK, "") == TransportError::other);
}
