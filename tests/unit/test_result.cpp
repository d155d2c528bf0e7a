#include <base/result.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>

using medgw::base::fail;
using medgw::base::Result;
using medgw::base::Status;

namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return fail("not_a_digit", std::string("'") + c + "' is not a digit");
  return c - '0';
}

Status check_even(int n) {
  if (n % 2 != 0) return fail("odd", std::to_string(n) + " is odd");
  return {};
}

}  // namespace

TEST_CASE("Result carries a value or an error with a stable code", "[base]") {
  const Result<int> seven = parse_digit('7');
  REQUIRE(seven.ok());
  CHECK(*seven == 7);
  CHECK(seven.value_or(0) == 7);

  const Result<int> bad = parse_digit('x');
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "not_a_digit");
  CHECK(bad.error().message == "'x' is not a digit");
  CHECK(bad.value_or(-1) == -1);
}

TEST_CASE("Status is a failure or nothing", "[base]") {
  CHECK(check_even(4).ok());
  const Status odd = check_even(3);
  REQUIRE_FALSE(odd);
  CHECK(odd.error().code == "odd");
}

TEST_CASE("Result holds move-only values", "[base]") {
  Result<std::unique_ptr<int>> owned = std::make_unique<int>(5);
  REQUIRE(owned);
  std::unique_ptr<int> taken = std::move(owned).value();
  CHECK(*taken == 5);
}
