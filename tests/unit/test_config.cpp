#include <daemon/config/config_loader.hpp>
#include <daemon/config/config_table.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

using namespace medgw;
using namespace medgw::daemon;
using namespace std::chrono_literals;

namespace {

constexpr const char* recipient = "age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87";

std::string minimal_config(const std::string& extra_central = "") {
  return std::string(R"(facility:
  code: "131234567"
sources:
  - name: std
    type: ssmix2
    path: /srv/ssmix2
central:
  url: https://collector.example.jp/files/
  ca: /etc/medgw/tls/ca.pem
  cert: /etc/medgw/tls/client.pem
  key: /etc/medgw/tls/client.key
  recipients: [)") + recipient + "]\n" + extra_central;
}

// medgw.yaml read against the gateway's schema (its key table and source types).
LoadResult parse(std::string_view yaml, const std::filesystem::path& file) { return parse_config(yaml, file, config_schema()); }

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> out;
  for (const auto& diagnostic : result.diagnostics) {
    if (diagnostic.severity == Diagnostic::Severity::error) out.push_back(diagnostic.format());
  }
  return out;
}

}  // namespace

TEST_CASE("a minimal config gets every default", "[config]") {
  const LoadResult result = parse(minimal_config(), "medgw.yaml");
  INFO(errors_of(result).size());
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.facility.code == "131234567");
  CHECK(c.state_dir == "/var/lib/medgw");
  REQUIRE(c.sources.size() == 1);
  CHECK(c.sources[0].type == "ssmix2");
  CHECK(c.sources[0].path("path") == "/srv/ssmix2");
  CHECK(c.sources[0].path("extended_path").empty());
  CHECK(c.sources[0].scan_interval == 10min);
  CHECK(c.sources[0].settle == 30s);
  CHECK(c.central.chunk == 16ULL << 20);
  CHECK(c.central.bandwidth == 0);
  CHECK(c.central.window.always);
  CHECK(c.spool.max_bytes == 20ULL << 30);
  CHECK(c.spool.min_free == 2ULL << 30);
  CHECK(c.policy.unidentified == UnidentifiedPolicy::hold);
  CHECK(c.status.listen == "127.0.0.1:9750");
  CHECK(c.log.level == "info");
}

TEST_CASE("per-type defaults: monthly exports are scanned hourly", "[config]") {
  const std::string text = R"(facility: {code: "131234567"}
sources:
  - {name: dpc, type: dpc, path: /srv/dpc}
  - {name: uke, type: receipt, path: /srv/uke, settle: 1m}
central:
  url: https://c.example.jp/files/
  ca: /a
  cert: /b
  key: /c
  recipients: [)" + std::string(recipient) + "]\n";
  const LoadResult result = parse(text, "m.yaml");
  REQUIRE(result.ok());
  CHECK(result.config->sources[0].scan_interval == 1h);
  CHECK(result.config->sources[0].settle == 5min);
  CHECK(result.config->sources[1].scan_interval == 1h);
  CHECK(result.config->sources[1].settle == 1min);
}

TEST_CASE("an unknown key, a bad duration and a missing central.url give three located errors", "[config]") {
  const std::string text = R"(facility:
  code: "131234567"
sources:
  - name: std
    type: ssmix2
    path: /srv/ssmix2
    scan_interval: 10 minutes
central:
  ca: /etc/medgw/tls/ca.pem
  cert: /etc/medgw/tls/client.pem
  key: /etc/medgw/tls/client.key
  recipients: [age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87]
  chunck: 16MiB
)";
  const LoadResult result = parse(text, "/etc/medgw/medgw.yaml");
  CHECK_FALSE(result.ok());
  const auto errors = errors_of(result);
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::StartsWith("/etc/medgw/medgw.yaml:7:20: sources[0].scan_interval: bad duration"));
  CHECK_THAT(errors[1], Catch::StartsWith("/etc/medgw/medgw.yaml:8:1: missing required key 'central.url'"));
  CHECK(errors[2] == "/etc/medgw/medgw.yaml:13:3: unknown key 'central.chunck' (did you mean 'chunk'?)");
}

TEST_CASE("wrong types are reported where they are", "[config]") {
  const std::string text = R"(facility:
  code: 13123
state_dir: var/lib/medgw
sources:
  - name: Std Storage
    type: hl7
    path: [a, b]
central:
  url: http://collector.example.jp/files/
  ca: /a
  cert: /b
  key: /c
  recipients: age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87
  chunk: 1KiB
  window: "19:00-19:00"
  pin: [sha256//abc]
spool:
  max_bytes: lots
policy:
  since: 2023-02-30
  unidentified: drop
status:
  listen: "localhost:9750"
log:
  level: verbose
)";
  const LoadResult result = parse(text, "x.yaml");
  const auto errors = errors_of(result);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"x.yaml:2:9:", "must be 9 digits"},
      {"x.yaml:3:12:", "absolute path"},
      {"x.yaml:5:11:", "sources[0].name: 'Std Storage' must be 1-32 characters"},
      {"x.yaml:6:11:", "'hl7' is not one of: ssmix2, dpc, receipt"},
      {"x.yaml:7:11:", "expected a path, found a list"},
      {"x.yaml:9:8:", "must start with https://"},
      {"x.yaml:13:15:", "expected a list"},
      {"x.yaml:14:10:", "between 64KiB and 1GiB"},
      {"x.yaml:15:11:", "same time"},
      {"x.yaml:16:8:", "sha256//<base64"},
      {"x.yaml:18:14:", "bad size 'lots'"},
      {"x.yaml:20:10:", "not a calendar date"},
      {"x.yaml:21:17:", "'drop' is not one of: hold, send"},
      {"x.yaml:23:11:", "must be IP:port"},
      {"x.yaml:25:10:", "'verbose' is not one of: debug, info, warn, error"},
  };
  REQUIRE(errors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(errors[i]);
    CHECK_THAT(errors[i], Catch::StartsWith(expected[i].first) && Catch::Contains(expected[i].second));
  }
}

TEST_CASE("missing sections, empty files and YAML syntax errors", "[config]") {
  SECTION("empty file") {
    const auto errors = errors_of(parse("", "e.yaml"));
    REQUIRE(errors.size() == 3);
    CHECK(errors[0] == "e.yaml:1:1: missing required section 'facility' (see docs/config.md)");
    CHECK(errors[1] == "e.yaml:1:1: missing required section 'central' (see docs/config.md)");
    CHECK_THAT(errors[2], Catch::StartsWith("e.yaml:1:1: missing required key 'sources'"));
  }
  SECTION("a section with no keys") {
    const auto errors = errors_of(parse(minimal_config() + "spool:\npolicy: 3\n", "s.yaml"));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("'policy' must be a map of keys"));
  }
  SECTION("syntax error") {
    const auto errors = errors_of(parse("facility:\n  code: [1, 2\n", "y.yaml"));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::StartsWith("y.yaml:") && Catch::Contains("YAML syntax error"));
  }
  SECTION("not a map") {
    const auto errors = errors_of(parse("- a\n- b\n", "l.yaml"));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("must be a map of keys"));
  }
}

TEST_CASE("source list rules", "[config]") {
  SECTION("duplicate names and folders, extended_path on dpc") {
    const std::string text = minimal_config() + R"(
)";
    std::string config = text;
    config.replace(config.find("    path: /srv/ssmix2\n"), 22,
                   "    path: /srv/ssmix2\n  - {name: std, type: dpc, path: /srv/ssmix2/, extended_path: /x}\n");
    const auto errors = errors_of(parse(config, "d.yaml"));
    REQUIRE(errors.size() == 3);
    CHECK_THAT(errors[0], Catch::Contains("'std' is already the name of sources[0]"));
    CHECK_THAT(errors[1], Catch::Contains("sources[1].path is the same folder as sources[0].path"));
    CHECK_THAT(errors[2], Catch::Contains("unknown key 'sources[1].extended_path': type dpc has no key 'extended_path'"));
  }
  SECTION("empty list and unknown per-source key") {
    std::string no_sources = minimal_config();
    const auto from = no_sources.find("sources:");
    no_sources.replace(from, no_sources.find("central:") - from, "sources: []\n");
    const auto empty = errors_of(parse(no_sources, "a.yaml"));
    REQUIRE(empty.size() == 1);
    CHECK(empty[0] == "a.yaml:3:10: 'sources' is empty: list at least one folder to watch");
    std::string config = minimal_config();
    config.replace(config.find("    path: /srv/ssmix2\n"), 22, "    path: /srv/ssmix2\n    setle: 5m\n");
    const auto errors = errors_of(parse(config, "b.yaml"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "b.yaml:7:5: unknown key 'sources[0].setle' (did you mean 'settle'?)");
  }
  SECTION("a source without its required keys") {
    std::string config = minimal_config();
    config.replace(config.find("    type: ssmix2\n    path: /srv/ssmix2\n"), 38, "");
    const auto errors = errors_of(parse(config, "c.yaml"));
    // Without a type, which keys it needs is unknown: the type alone is reported.
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "c.yaml:4:5: missing required key 'sources[0].type': What the source is: one of the source "
                       "types below (each with its own keys).");
    std::string typed = minimal_config();
    typed.replace(typed.find("    path: /srv/ssmix2\n"), 22, "");
    const auto missing_path = errors_of(parse(typed, "c.yaml"));
    REQUIRE(missing_path.size() == 1);
    CHECK_THAT(missing_path[0], Catch::StartsWith("c.yaml:4:5: missing required key 'sources[0].path'"));
  }
}

TEST_CASE("duplicate keys and bad recipients", "[config]") {
  const auto errors = errors_of(parse(minimal_config("  chunk: 8MiB\n  chunk: 4MiB\n  recipients: [age1x]\n"), "k.yaml"));
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "k.yaml:14:3: duplicate key 'central.chunk' (first given on line 13)");
  CHECK(errors[1] == "k.yaml:15:3: duplicate key 'central.recipients' (first given on line 12)");
  const auto bad = errors_of(parse(minimal_config().replace(minimal_config().find(recipient), 62, "age1notakey"), "r.yaml"));
  REQUIRE(bad.size() == 1);
  CHECK_THAT(bad[0], Catch::Contains("'age1notakey' is not an age X25519 recipient"));
}

TEST_CASE("the packaged example config is valid", "[config]") {
  const LoadResult result = load_config(test::source_dir() / "packaging" / "medgw.yaml", config_schema());
  for (const auto& d : result.diagnostics) INFO(d.format());
  REQUIRE(result.ok());
  CHECK(result.diagnostics.empty());
  CHECK(result.config->sources.size() == 3);
}

TEST_CASE("an unreadable config file is one located error", "[config]") {
  const LoadResult result = load_config("/nonexistent/medgw.yaml", config_schema());
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.diagnostics.size() == 1);
  CHECK_THAT(result.diagnostics[0].format(), Catch::StartsWith("/nonexistent/medgw.yaml:1:1: cannot read the config file"));
}

TEST_CASE("docs/config.md is generated from the config table and up to date", "[config]") {
  const std::string committed = test::read_file(test::source_dir() / "docs" / "config.md");
  INFO("regenerate it with scripts/gen-docs");
  CHECK(committed == config_reference_markdown(config_schema()));
}

TEST_CASE("every key in the table is documented and has a sane default", "[config]") {
  for (const KeySpec& spec : config_table()) {
    INFO(spec.key);
    CHECK_FALSE(spec.doc.empty());
    CHECK(spec.apply != nullptr);
    CHECK_FALSE(spec.source_folder);  // folders are keys of source types
    if (spec.kind == ValueKind::choice) CHECK_FALSE(spec.choices.empty());
  }
  for (const SourceTypeSpec* type : config_schema().source_types) {
    INFO(type->name);
    CHECK_FALSE(type->description.empty());
    CHECK(parse_duration(type->scan_interval));
    CHECK(parse_duration(type->settle));
    for (const KeySpec& spec : type->keys) {
      INFO(spec.key);
      CHECK_FALSE(spec.doc.empty());
      CHECK(spec.apply == nullptr);  // a type's keys go to SourceConfig::settings
      CHECK(spec.key.find('.') == std::string_view::npos);
    }
  }
}

TEST_CASE("secrets and PHI-bearing paths are marked in the table", "[config]") {
  auto sensitivity_of = [](std::string_view key) {
    for (const KeySpec& spec : config_table()) {
      if (spec.key == key) return spec.sensitivity;
    }
    for (const SourceTypeSpec* type : config_schema().source_types) {
      for (const KeySpec& spec : type->keys) {
        if ("sources[]." + std::string(spec.key) == key) return spec.sensitivity;
      }
    }
    FAIL("no key " << key);
    return Sensitivity::plain;
  };
  CHECK(sensitivity_of("central.proxy") == Sensitivity::secret);  // may carry user:password@
  CHECK(sensitivity_of("sources[].path") == Sensitivity::phi_path);
  CHECK(sensitivity_of("sources[].extended_path") == Sensitivity::phi_path);
  CHECK(sensitivity_of("policy.optout_file") == Sensitivity::phi_path);
  CHECK(sensitivity_of("policy.notice.register") == Sensitivity::phi_path);
  CHECK(sensitivity_of("central.url") == Sensitivity::plain);
}

TEST_CASE("a source folder overlapping state_dir is refused", "[config]") {
  for (const char* state_dir : {"/srv/ssmix2", "/srv/ssmix2/medgw", "/srv", "/srv/ssmix2/"}) {
    INFO(state_dir);
    const auto errors = errors_of(parse(minimal_config() + "state_dir: " + state_dir + "\n", "o.yaml"));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("sources[0].path /srv/ssmix2 overlaps state_dir"));
  }
  CHECK(errors_of(parse(minimal_config() + "state_dir: /srv/ssmix2-state\n", "o.yaml")).empty());
}

TEST_CASE("support.recipient takes an age recipient or nothing", "[config]") {
  const LoadResult unset = parse(minimal_config(), "s.yaml");
  REQUIRE(unset.ok());
  CHECK(unset.config->support.recipient.empty());
  const LoadResult set = parse(minimal_config() + "support: {recipient: " + recipient + "}\n", "s.yaml");
  REQUIRE(set.ok());
  CHECK(set.config->support.recipient == recipient);
  const auto errors = errors_of(parse(minimal_config() + "support: {recipient: age1nope}\n", "s.yaml"));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("support.recipient") && Catch::Contains("is not an age X25519 recipient"));
  // An identity pasted by mistake is refused without being echoed.
  const auto identity = errors_of(parse(minimal_config() + "support: {recipient: AGE-SECRET-KEY-1QQQ}\n", "s.yaml"));
  REQUIRE(identity.size() == 1);
  CHECK_THAT(identity[0], Catch::Contains("not a recipient"));
  CHECK_THAT(identity[0], !Catch::Contains("AGE-SECRET-KEY-1QQQ"));
}

TEST_CASE("policy.notice: a start date, a wait in whole days, a register file", "[config]") {
  const LoadResult off = parse(minimal_config(), "n.yaml");
  REQUIRE(off.ok());
  CHECK(off.config->policy.notice.start.empty());
  CHECK(off.config->policy.notice.wait == std::chrono::days(30));
  const LoadResult on = parse(minimal_config() + "policy:\n  notice:\n    start: \"2026-01-30\"\n    wait: 45d\n"
                                                 "    register: /etc/medgw/notice.csv\n", "n.yaml");
  INFO(errors_of(on).size());
  REQUIRE(on.ok());
  CHECK(on.config->policy.notice.start == "2026-01-30");
  CHECK(on.config->policy.notice.wait == std::chrono::days(45));
  CHECK(on.config->policy.notice.register_file == "/etc/medgw/notice.csv");
  const auto errors = errors_of(parse(minimal_config() + "policy:\n  notice: {start: \"2026-02-30\", wait: 36h}\n"
                                                         "  since: 3y\n", "n.yaml"));
  REQUIRE(errors.size() == 2);
  CHECK_THAT(errors[0], Catch::StartsWith("n.yaml:") && Catch::Contains("is not a calendar date"));
  CHECK_THAT(errors[1], Catch::Contains("whole days"));
  CHECK_THAT(errors_of(parse(minimal_config() + "policy: {notice: {start: 3y}}\n", "n.yaml"))[0],
             Catch::Contains("must be a date YYYY-MM-DD"));
  CHECK_THAT(errors_of(parse(minimal_config() + "policy: {notice: {stat: \"2026-01-30\"}}\n", "n.yaml"))[0],
             Catch::Contains("unknown key 'policy.notice.stat'"));
}

TEST_CASE("backup: a folder or the central's https endpoint, recipients, a daily HH:MM", "[config][backup]") {
  const LoadResult unset = parse(minimal_config(), "b.yaml");
  REQUIRE(unset.ok());
  CHECK(unset.config->backup.repository.empty());
  CHECK(unset.config->backup.schedule.empty());
  const LoadResult set = parse(minimal_config() + "backup: {repository: /mnt/backup, recipients: [" + recipient +
                                   "], schedule: \"02:30\"}\n",
                               "b.yaml");
  REQUIRE(set.ok());
  CHECK(set.config->backup.repository == "/mnt/backup");
  CHECK(set.config->backup.recipients == std::vector<std::string>{recipient});
  CHECK(set.config->backup.schedule == "02:30");

  auto single_error = [](const std::string& backup) {
    const auto errors = errors_of(parse(minimal_config() + backup, "b.yaml"));
    REQUIRE(errors.size() == 1);
    return errors[0];
  };
  const LoadResult remote = parse(minimal_config() + "backup: {repository: https://c.example.jp/backup/, recipients: [" +
                                      recipient + "]}\n",
                                  "b.yaml");
  REQUIRE(remote.ok());
  CHECK(remote.config->backup.repository == "https://c.example.jp/backup/");
  CHECK_THAT(single_error(std::string("backup: {repository: http://c.example.jp/backup/, recipients: [") + recipient +
                          "]}\n"),
             Catch::Contains("backup.repository") && Catch::Contains("mutual TLS only"));
  CHECK_THAT(single_error(std::string("backup: {repository: relative/dir, recipients: [") + recipient + "]}\n"),
             Catch::Contains("absolute folder"));
  CHECK_THAT(single_error("backup: {repository: /mnt/backup}\n"), Catch::Contains("backup.recipients is empty"));
  CHECK_THAT(single_error(std::string("backup: {schedule: \"25:00\", recipients: [") + recipient + "]}\n"),
             Catch::Contains("HH:MM"));
  CHECK_THAT(single_error("backup: {schedule: \"2am\"}\n"), Catch::Contains("HH:MM"));
  // The recovery identity pasted by mistake is refused without being echoed.
  const std::string identity = single_error("backup: {recipients: [AGE-SECRET-KEY-1QQQ]}\n");
  CHECK_THAT(identity, Catch::Contains("not a recipient"));
  CHECK_THAT(identity, !Catch::Contains("AGE-SECRET-KEY-1QQQ"));
  // Never inside a source or state_dir.
  CHECK_THAT(single_error(std::string("backup: {repository: /srv/ssmix2/backup, recipients: [") + recipient + "]}\n"),
             Catch::Contains("overlaps sources[0].path"));
  CHECK_THAT(single_error(std::string("state_dir: /var/lib/medgw\nbackup: {repository: /var/lib/medgw/b, "
                                      "recipients: [") + recipient + "]}\n"),
             Catch::Contains("overlaps state_dir"));
}
