// The judgements of `medgw doctor` with synthetic facts: conditions a test
// machine cannot be put into (a nearly full disk, a low inotify limit, a
// clock ten minutes off) and curl's answers for each TLS failure.
#include <daemon/support/central_checks.hpp>
#include <daemon/support/http_probe.hpp>
#include <daemon/support/judgements.hpp>

#include <catch2/catch.hpp>

#include <curl/curl.h>

using namespace medgw;
using namespace medgw::daemon;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t GiB = 1ULL << 30;

const Check& by_id(const std::vector<Check>& checks, std::string_view id) {
  for (const Check& check : checks) {
    if (check.id == id) return check;
  }
  FAIL("no check " << id);
  return checks.front();
}

Exchange answered(long status, std::map<std::string, std::string> headers) {
  Exchange exchange;
  exchange.curl_code = CURLE_OK;
  exchange.http_status = status;
  exchange.headers = std::move(headers);
  return exchange;
}

Exchange failed(CURLcode code, std::string error) {
  Exchange exchange;
  exchange.curl_code = code;
  exchange.error = std::move(error);
  return exchange;
}

}  // namespace

TEST_CASE("free space: below spool.min_free fails, close to it warns", "[support][doctor]") {
  DiskFacts facts{50ULL << 20, 100 * GiB, 1'000'000, 2'000'000, 0, 2 * GiB, 20 * GiB};
  Check check = judge_disk(facts, "/var/lib/medgw");
  CHECK(check.verdict == Verdict::fail);
  CHECK_THAT(check.finding, Catch::Contains("collection is paused"));
  CHECK_THAT(check.remedy, Catch::Contains("spool.min_free"));
  facts.free_bytes = 3 * GiB;  // above the reserve, below reserve + a tenth of the spool
  CHECK(judge_disk(facts, "/x").verdict == Verdict::warn);
  facts.free_bytes = 50 * GiB;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::ok);
  facts.free_inodes = 500;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::fail);
  facts.free_inodes = 5000;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::warn);
  facts.free_inodes = 1'000'000;
  facts.spooled_bytes = 20 * GiB;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::fail);
  facts.spooled_bytes = 19 * GiB;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::warn);
  facts.total_inodes = 0;  // btrfs: no inode count
  facts.free_inodes = 0;
  facts.spooled_bytes = 1 * GiB;
  CHECK(judge_disk(facts, "/x").verdict == Verdict::ok);
}

TEST_CASE("inotify: a limit below the folders to watch warns with the sysctl to set", "[support][doctor]") {
  Check low = judge_inotify({8192, 20'000, true, 100'000});
  CHECK(low.verdict == Verdict::warn);
  CHECK_THAT(low.remedy, Catch::Contains("fs.inotify.max_user_watches = 524288"));
  CHECK(judge_inotify({30'000, 20'000, true, 100'000}).verdict == Verdict::ok);
  CHECK(judge_inotify({21'000, 20'000, true, 100'000}).verdict == Verdict::warn);  // over 90% used
  // Beyond the service's own cap it watches only the cap.
  const Check capped = judge_inotify({524'288, 100'001, false, 100'000});
  CHECK(capped.verdict == Verdict::ok);
  CHECK_THAT(capped.finding, Catch::Contains("at least 100001"));
}

TEST_CASE("clock: ten minutes off fails, a minute warns, seconds pass", "[support][doctor]") {
  CHECK(judge_clock(600s, true).verdict == Verdict::fail);
  CHECK(judge_clock(-600s, true).verdict == Verdict::fail);
  CHECK_THAT(judge_clock(-600s, true).finding, Catch::Contains("600 s behind"));
  CHECK_THAT(judge_clock(600s, true).remedy, Catch::Contains("timedatectl set-ntp true"));
  CHECK(judge_clock(60s, true).verdict == Verdict::warn);
  CHECK(judge_clock(2s, true).verdict == Verdict::ok);
  CHECK(judge_clock(std::nullopt, true).verdict == Verdict::skip);
  CHECK(judge_clock(std::nullopt, false).verdict == Verdict::skip);
}

TEST_CASE("client certificate: expired fails, under 30 days warns", "[support][doctor]") {
  const auto now = std::chrono::system_clock::now();
  CHECK(judge_certificate_days(now - 24h, {}, now).verdict == Verdict::fail);
  CHECK(judge_certificate_days(now + 24h * 10, {}, now).verdict == Verdict::warn);
  CHECK(judge_certificate_days(now + 24h * 200, {}, now).verdict == Verdict::ok);
  CHECK(judge_certificate_days(std::nullopt, "central.cert: no certificate", now).verdict == Verdict::fail);
}

TEST_CASE("secret files: mode 0644 or another owner fail", "[support][doctor]") {
  SecretFileFacts facts{"central.key", "/etc/medgw/tls/client.key", true, 0100644, 0, 0, "root", true};
  Check open_key = judge_secret_file(facts);
  CHECK(open_key.verdict == Verdict::fail);
  CHECK(open_key.remedy == "chmod 600 /etc/medgw/tls/client.key");
  facts.mode = 0100600;
  CHECK(judge_secret_file(facts).verdict == Verdict::ok);
  facts.owner = 1000;
  CHECK(judge_secret_file(facts).verdict == Verdict::fail);
  facts.exists = false;
  CHECK(judge_secret_file(facts).verdict == Verdict::fail);
  facts.required = false;
  CHECK(judge_secret_file(facts).verdict == Verdict::ok);
}

TEST_CASE("state_dir: open to others or owned by another user fails", "[support][doctor]") {
  StateDirFacts facts{"/var/lib/medgw", true, true, 040750, 998, 998, "medgw"};
  CHECK(judge_state_dir(facts).verdict == Verdict::ok);
  facts.mode = 040777;
  CHECK(judge_state_dir(facts).verdict == Verdict::fail);
  facts.mode = 040750;
  facts.owner = 0;
  CHECK(judge_state_dir(facts).verdict == Verdict::fail);
  facts.exists = false;
  CHECK(judge_state_dir(facts).verdict == Verdict::warn);
}

TEST_CASE("TLS outcomes: each failure is told apart and the later steps are skipped", "[support][doctor]") {
  const ExchangeContext context{"localhost:8443", true, false, 10s};
  auto verdicts = [&](const Exchange& exchange) { return judge_exchange(exchange, context); };

  const auto wrong_ca = verdicts(failed(CURLE_PEER_FAILED_VERIFICATION,
                                        "SSL certificate problem: unable to get local issuer certificate"));
  CHECK(by_id(wrong_ca, "tls").verdict == Verdict::fail);
  CHECK_THAT(by_id(wrong_ca, "tls").finding, Catch::Contains("not signed by central.ca"));
  CHECK(by_id(wrong_ca, "tus").verdict == Verdict::skip);

  const auto wrong_host = verdicts(failed(CURLE_PEER_FAILED_VERIFICATION,
                                          "SSL: no alternative certificate subject name matches target host name 'localhost'"));
  CHECK_THAT(by_id(wrong_host, "tls").finding, Catch::Contains("does not name localhost:8443"));

  const auto pin = verdicts(failed(CURLE_SSL_PINNEDPUBKEYNOTMATCH, "SSL: public key does not match pinned public key"));
  CHECK(by_id(pin, "tls").verdict == Verdict::ok);
  CHECK(by_id(pin, "pin").verdict == Verdict::fail);

  const auto refused = verdicts(failed(CURLE_RECV_ERROR,
                                       "OpenSSL SSL_read: error:0A000415:SSL routines::sslv3 alert certificate expired, errno 0"));
  CHECK(by_id(refused, "tls").verdict == Verdict::ok);
  CHECK(by_id(refused, "client_cert").verdict == Verdict::fail);
  CHECK_THAT(by_id(refused, "client_cert").finding, Catch::Contains("certificate expired"));

  const auto bad_key = verdicts(failed(CURLE_SSL_CERTPROBLEM, "could not load PEM client certificate"));
  CHECK(by_id(bad_key, "client_cert").verdict == Verdict::fail);
  CHECK(by_id(bad_key, "tls").verdict == Verdict::skip);

  const auto good = verdicts(answered(204, {{"tus-resumable", "1.0.0"}, {"tus-extension", "creation"}}));
  CHECK(by_id(good, "tls").verdict == Verdict::ok);
  CHECK(by_id(good, "pin").verdict == Verdict::ok);
  CHECK(by_id(good, "client_cert").verdict == Verdict::ok);
  CHECK(by_id(good, "tus").verdict == Verdict::ok);

  const auto not_tus = verdicts(answered(404, {}));
  CHECK(by_id(not_tus, "tus").verdict == Verdict::fail);
  CHECK_THAT(by_id(not_tus, "tus").remedy, Catch::Contains("tus 1.0 upload URL"));

  const auto forbidden = verdicts(answered(403, {}));
  CHECK(by_id(forbidden, "client_cert").verdict == Verdict::fail);

  const ExchangeContext proxied{"localhost:8443", false, true, 10s};
  const auto tunnel = judge_exchange(failed(CURLE_COULDNT_CONNECT, "CONNECT tunnel failed, response 403"), proxied);
  CHECK(by_id(tunnel, "tcp").verdict == Verdict::fail);
  CHECK(by_id(tunnel, "tls").verdict == Verdict::skip);
}

TEST_CASE("endpoints are read from URLs without their credentials", "[support][doctor]") {
  Endpoint endpoint;
  REQUIRE(parse_endpoint("https://collector.example.jp/files/", "443", endpoint));
  CHECK((endpoint.host == "collector.example.jp" && endpoint.port == "443"));
  REQUIRE(parse_endpoint("http://user:pw@proxy.local:8080", "1080", endpoint));
  CHECK((endpoint.host == "proxy.local" && endpoint.port == "8080"));
  REQUIRE(parse_endpoint("https://[::1]:9443/files/", "443", endpoint));
  CHECK((endpoint.host == "::1" && endpoint.port == "9443"));
  CHECK_FALSE(parse_endpoint("no scheme", "443", endpoint));
}
