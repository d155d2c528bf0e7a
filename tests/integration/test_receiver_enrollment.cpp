// The enrollment service's memory and its external signer (issue 22) on
// real files and real child processes: a ticket works once even when two
// requests race for it, expires, belongs to one facility and survives a
// signing failure; revocation of serials this CA never issued; the serial
// spellings an operator may paste; ca.command's output, failures and limits.
#include <tests/support/test_support.hpp>

#include <receiver/cert_commands.hpp>
#include <receiver/enrollment_registry.hpp>
#include <receiver/external_signer.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <thread>

namespace medgw::receiver {
namespace {

TEST_CASE("a ticket works once even when two enrollments race for it", "[receiver][enrollment]") {
  test::TempDir dir;
  EnrollmentRegistry registry(dir.path() / "enrollment.db");
  const std::string ticket = registry.add_ticket("131234567", 1000, 100000);
  REQUIRE(ticket.size() == 43);
  for (int round = 0; round < 20; ++round) {
    const std::string racing = registry.add_ticket("131234567", 1000, 100000);
    std::atomic<int> taken{0};
    std::barrier start(2);
    auto take = [&] {
      EnrollmentRegistry own(dir.path() / "enrollment.db");  // another connection, as another request
      start.arrive_and_wait();
      if (own.take_ticket(racing, "131234567", 2000) == TicketUse::taken) ++taken;
    };
    std::thread first(take);
    std::thread second(take);
    first.join();
    second.join();
    REQUIRE(taken == 1);
  }
  CHECK(registry.take_ticket(ticket, "139999999", 2000) == TicketUse::other_facility);
  CHECK(registry.take_ticket(ticket, "131234567", 100000) == TicketUse::expired);
  CHECK(registry.take_ticket(std::string(43, 'A'), "131234567", 2000) == TicketUse::unknown);
  REQUIRE(registry.take_ticket(ticket, "131234567", 2000) == TicketUse::taken);
  CHECK(registry.take_ticket(ticket, "131234567", 2000) == TicketUse::used);
  registry.give_back_ticket(ticket);  // the certificate could not be made
  CHECK(registry.take_ticket(ticket, "131234567", 3000) == TicketUse::taken);
}

TEST_CASE("the database keeps no ticket, only its hash", "[receiver][enrollment]") {
  test::TempDir dir;
  std::string ticket;
  {
    EnrollmentRegistry registry(dir.path() / "enrollment.db");
    ticket = registry.add_ticket("131234567", 1000, 100000);
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    CHECK(test::read_file(entry.path()).find(ticket) == std::string::npos);
  }
}

TEST_CASE("revocation covers serials this CA never issued and is counted once", "[receiver][enrollment]") {
  test::TempDir dir;
  EnrollmentRegistry registry(dir.path() / "enrollment.db");
  registry.add_certificate({"4A01", "131234567", 0, 5000, 10, "ticket", 0});
  registry.add_certificate({"4A02", "131234567", 0, 6000, 20, "renewal", 0});
  CHECK(registry.newest_serial("131234567") == "4A02");
  CHECK(registry.revoke_serial("4A02", 100));
  CHECK_FALSE(registry.revoke_serial("4A02", 200));
  CHECK(registry.newest_serial("131234567") == "4A01");
  CHECK(registry.revoke_serial("0BEEF0", 300));  // a hand-made certificate
  CHECK(registry.revoke_facility("131234567", 400) == 1);
  const auto revoked = registry.revoked();
  REQUIRE(revoked.size() == 3);
  CHECK_FALSE(registry.newest_serial("131234567").has_value());
}

TEST_CASE("serials are read as operators paste them", "[receiver][enrollment]") {
  CHECK(normalize_serial("4a:0f:99") == "4A0F99");
  CHECK(normalize_serial("0x4A0F99") == "4A0F99");
  CHECK(normalize_serial("serial=4A") == std::nullopt);
  CHECK(normalize_serial("") == std::nullopt);
  CHECK(normalize_serial(std::string(80, 'A')) == std::nullopt);
  CHECK(parse_validity("7d") == std::chrono::seconds(7 * 86400));
  CHECK(parse_validity("90s") == std::chrono::seconds(90));
  CHECK_FALSE(parse_validity("7").has_value());
  CHECK_FALSE(parse_validity("-1d").has_value());
  CHECK_FALSE(parse_validity("99999d").has_value());
}

TEST_CASE("ca.command gets the CSR and the facility and its failures are errors", "[receiver][enrollment]") {
  const auto echoed = run_external_signer("printf '%s ' \"$MEDGW_FACILITY\" \"$MEDGW_VALIDITY_SECONDS\"; cat",
                                          "CSR-PEM\n", "131234567", std::chrono::seconds(60));
  REQUIRE(echoed);
  CHECK(*echoed == "131234567 60 CSR-PEM\n");
  const auto failed = run_external_signer("cat > /dev/null; echo half; exit 3", "x", "131234567", std::chrono::seconds(1));
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("exit status 3") != std::string::npos);
  const auto flood = run_external_signer("head -c 200000 /dev/zero", "x", "131234567", std::chrono::seconds(1));
  REQUIRE_FALSE(flood);
  CHECK(flood.error().message.find("64 KiB") != std::string::npos);
  const auto missing = run_external_signer("/nonexistent/signer", "x", "131234567", std::chrono::seconds(1));
  CHECK_FALSE(missing);
  // A command that ends without reading: the write breaks (EPIPE, never a
  // SIGPIPE that would end the receiver) and its exit status is reported.
  const std::string big(1 << 20, 'x');
  const auto unread = run_external_signer("exit 4", big, "131234567", std::chrono::seconds(1));
  REQUIRE_FALSE(unread);
  CHECK(unread.error().message.find("exit status 4") != std::string::npos);
  const auto quiet = run_external_signer("exec 0<&-; sleep 0.2", big, "131234567", std::chrono::seconds(1));
  REQUIRE_FALSE(quiet);
  CHECK(quiet.error().message.find("without reading the CSR") != std::string::npos);
}

}  // namespace
}  // namespace medgw::receiver
