// The TLS material in memory on real connections (daemon/delivery/
// tls_material.hpp, http_profile.hpp) against `openssl s_server`: a new
// connection uses the CA file as it is now - libcurl's CA cache would keep
// the old one - and presents the client certificate from memory.
#include "cert_fixture.hpp"

#include <daemon/delivery/http_profile.hpp>

#include <base/curl_handles.hpp>

#include <tests/support/child_process.hpp>

#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gw = medgw::daemon;
namespace certs = medgw::test::certs;
using medgw::test::TempDir;
using medgw::test::read_file;
using medgw::test::write_file;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

CURLcode get(CURL* easy, const gw::HttpProfile& profile, const std::string& url, bool fresh) {
  profile.apply(easy);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t size, std::size_t count, void*) {
    return size * count;
  });
  return curl_easy_perform(easy);
}

}  // namespace

TEST_CASE("tls material: a new connection uses the CA file as it is now and the client certificate from memory",
          "[cert][tls][socket]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  certs::make_ca(dir, "other");
  certs::sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + certs::arg(dir / "server.key") +
            " -out " + certs::arg(dir / "server.csr") + " -subj /CN=localhost");
  write_file(dir / "server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  certs::sh("openssl x509 -req -in " + certs::arg(dir / "server.csr") + " -CA " + certs::arg(dir / "ca.pem") +
            " -CAkey " + certs::arg(dir / "ca.key") + " -set_serial 77 -days 30 -extfile " +
            certs::arg(dir / "server.ext") + " -out " + certs::arg(dir / "server.pem"));
  (void)certs::key_and_certificate(dir, "ca", "131234567", "client");

  const int port = free_port();
  // -Verify: the server insists on a client certificate from `ca`.
  medgw::test::ChildProcess server({"/usr/bin/openssl", "s_server", "-quiet", "-accept", "127.0.0.1:" + std::to_string(port),
                                    "-cert", (dir / "server.pem").string(), "-key", (dir / "server.key").string(),
                                    "-Verify", "1", "-CAfile", (dir / "ca.pem").string(), "-verify_return_error",
                                    "-www"});
  for (int i = 0; i < 100 && !accepts(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(accepts(port));

  write_file(dir / "central-ca.pem", read_file(dir / "other.pem"));
  gw::CentralConfig central;
  central.url = "https://127.0.0.1:" + std::to_string(port) + "/";
  central.ca = dir / "central-ca.pem";
  central.cert = dir / "client.pem";
  central.key = dir / "client.key";
  auto profile = gw::make_http_profile(central);
  REQUIRE(profile);

  // One easy handle: its connection and CA caches live across transfers.
  const medgw::base::curl::Easy easy(curl_easy_init());
  CHECK(get(easy.get(), *profile, central.url, true) == CURLE_PEER_FAILED_VERIFICATION);

  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem"));
  profile->tls->check_soon();
  CHECK(get(easy.get(), *profile, central.url, true) == CURLE_OK);
  long status = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
  CHECK(status == 200);  // the server accepted the client certificate set from memory

  write_file(dir / "central-ca.pem", read_file(dir / "other.pem") + "\n");
  profile->tls->check_soon();
  CHECK(get(easy.get(), *profile, central.url, true) == CURLE_PEER_FAILED_VERIFICATION);

  // Without a client certificate (enrollment) the server's -Verify refuses.
  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem"));
  auto anonymous = gw::make_http_profile(central, gw::ClientIdentity::none);
  REQUIRE(anonymous);
  const medgw::base::curl::Easy other(curl_easy_init());
  CHECK(get(other.get(), *anonymous, central.url, true) != CURLE_OK);

  server.kill(SIGTERM);
  (void)server.wait();
}
