#include <daemon/config/units.hpp>

#include <catch2/catch.hpp>

using namespace medgw::daemon;
using namespace std::chrono_literals;

TEST_CASE("sizes accept binary and decimal units", "[units]") {
  CHECK(*parse_size("0").value == 0);
  CHECK(*parse_size("512").value == 512);
  CHECK(*parse_size("512B").value == 512);
  CHECK(*parse_size("64KiB").value == 64ULL << 10);
  CHECK(*parse_size("16MiB").value == 16ULL << 20);
  CHECK(*parse_size("20GiB").value == 20ULL << 30);
  CHECK(*parse_size("1TiB").value == 1ULL << 40);
  CHECK(*parse_size("10KB").value == 10'000);
  CHECK(*parse_size("5MB").value == 5'000'000);
  CHECK(*parse_size("2GB").value == 2'000'000'000);
}

TEST_CASE("bad sizes are refused with the accepted form", "[units]") {
  for (const char* text : {"", "MiB", "16 MiB", "16mib", "1.5GiB", "-1", "16MiBs", "sixteen", "16Mi"}) {
    INFO(text);
    auto parsed = parse_size(text);
    CHECK_FALSE(parsed);
    CHECK_THAT(parsed.error, Catch::Contains("16MiB"));
  }
  CHECK_THAT(parse_size("99999999999999999999").error, Catch::Contains("too large"));
  CHECK_THAT(parse_size("20000000TiB").error, Catch::Contains("too large"));
}

TEST_CASE("sizes format back to their shortest binary unit", "[units]") {
  CHECK(format_size(16ULL << 20) == "16MiB");
  CHECK(format_size(1536) == "1536B");
  CHECK(format_size(2048) == "2KiB");
  CHECK(format_size(0) == "0");
}

TEST_CASE("durations", "[units]") {
  CHECK(*parse_duration("30s").value == 30s);
  CHECK(*parse_duration("10m").value == 10min);
  CHECK(*parse_duration("1h").value == 1h);
  CHECK(*parse_duration("2d").value == 48h);
  CHECK(*parse_duration("500ms").value == 500ms);
  CHECK(*parse_duration("1h30m").value == 90min);
  CHECK(*parse_duration("0").value == 0ms);
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(1500ms) == "1s500ms");
}

TEST_CASE("bad durations name the units", "[units]") {
  for (const char* text : {"", "30", "10 minutes", "m", "10x", "1.5h", "-5s", "s30"}) {
    INFO(text);
    auto parsed = parse_duration(text);
    CHECK_FALSE(parsed);
    CHECK_FALSE(parsed.error.empty());
  }
  CHECK_THAT(parse_duration("30").error, Catch::Contains("no unit"));
  CHECK_THAT(parse_duration("99999999999d").error, Catch::Contains("too long"));
}

TEST_CASE("windows may wrap past midnight", "[units]") {
  auto night = parse_window("19:00-07:00");
  REQUIRE(night);
  CHECK(night.value->contains(19 * 60));
  CHECK(night.value->contains(23 * 60 + 59));
  CHECK(night.value->contains(0));
  CHECK(night.value->contains(6 * 60 + 59));
  CHECK_FALSE(night.value->contains(7 * 60));
  CHECK_FALSE(night.value->contains(12 * 60));
  CHECK(night.value->text() == "19:00-07:00");

  auto day = parse_window("09:30-17:00");
  REQUIRE(day);
  CHECK(day.value->contains(9 * 60 + 30));
  CHECK_FALSE(day.value->contains(17 * 60));
  CHECK_FALSE(day.value->contains(9 * 60 + 29));

  auto always = parse_window("");
  REQUIRE(always);
  CHECK(always.value->always);
  CHECK(always.value->contains(123));
}

TEST_CASE("bad windows", "[units]") {
  for (const char* text : {"19-07", "19:00", "25:00-07:00", "19:60-07:00", "7:00-19:00", "19:00~07:00", "19:00-07:00x"}) {
    INFO(text);
    auto parsed = parse_window(text);
    CHECK_FALSE(parsed);
    CHECK_THAT(parsed.error, Catch::Contains("HH:MM-HH:MM"));
  }
  CHECK_THAT(parse_window("08:00-08:00").error, Catch::Contains("same time"));
}
