#include <tests/support/test_support.hpp>

#include <base/log.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace medgw;

TEST_CASE("records are one logfmt line with quoted values", "[log]") {
  const log::Field fields[] = {{"file", "/var/lib/medgw/state.db"}, {"count", 3}, {"why", "two words"},
                               {"quote", "a\"b"}, {"newline", "x\ny"}, {"empty", ""}};
  const log::Record record{std::chrono::system_clock::now(), log::Level::warn, "spool", "spool.full",
                           "spool is full", fields};
  CHECK(log::format_record(record, false) ==
        "level=warn component=spool event=spool.full msg=\"spool is full\" file=/var/lib/medgw/state.db count=3 "
        "why=\"two words\" quote=\"a\\\"b\" newline=\"x\\ny\" empty=\"\"");
  CHECK_THAT(log::format_record(record, true), Catch::StartsWith("time=") && Catch::Contains(" level=warn "));
}

TEST_CASE("control bytes are escaped so a record never spans lines", "[log]") {
  const log::Field fields[] = {{"value", std::string("a\x01\x7f", 3)}, {"bytes", std::string("x\xff", 2)}};
  const log::Record record{std::chrono::system_clock::now(), log::Level::info, "c", "", "m", fields};
  const std::string line = log::format_record(record, false);
  CHECK(line == "level=info component=c msg=m value=\"a\\u0001\\u007f\" bytes=\"x\xef\xbf\xbd\"");
}

TEST_CASE("the level filter applies and can change at run time", "[log]") {
  auto capture = std::make_shared<test::LogCapture>();
  auto core = std::make_shared<log::LogCore>(log::Level::info);
  core->add_sink(capture);
  log::Logger logger(core, "daemon");
  logger.debug("x.debug", "hidden");
  logger.info("x.info", "shown");
  core->set_level(log::Level::debug);
  logger.named("spool").debug("x.debug2", "now shown");
  const auto lines = capture->lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "level=info component=daemon event=x.info msg=shown");
  CHECK(lines[1] == "level=debug component=spool event=x.debug2 msg=\"now shown\"");
}

TEST_CASE("level names", "[log]") {
  CHECK(log::parse_level("warning") == log::Level::warn);
  CHECK(log::parse_level("error") == log::Level::error);
  CHECK_FALSE(log::parse_level("verbose"));
}

TEST_CASE("the file sink appends timestamped lines", "[log]") {
  test::TempDir dir;
  const auto file = dir / "medgw.log";
  {
    auto core = std::make_shared<log::LogCore>(log::Level::info);
    core->add_sink(std::make_shared<log::FileSink>(file));
    log::Logger logger(core, "daemon");
    logger.info("daemon.started", "started", {{"version", "0.1.0"}});
    logger.warn("spool.low", "low space");
  }
  {
    auto core = std::make_shared<log::LogCore>(log::Level::info);
    core->add_sink(std::make_shared<log::FileSink>(file));
    log::Logger(core, "daemon").error("daemon.stopped", "stopped");
  }
  const std::string text = test::read_file(file);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  CHECK_THAT(text, Catch::Matches("time=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}[+-]\\d\\d:\\d\\d level=info "
                                  "component=daemon event=daemon.started msg=started version=0.1.0\n"
                                  "time=.* level=warn .*\ntime=.* level=error .*msg=stopped\n"));
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::others_all) == std::filesystem::perms::none);
  CHECK_THROWS_WITH(log::FileSink(dir / "missing" / "x.log"), Catch::Contains("cannot open log file"));
}
