#include <daemon/cli/cli.hpp>

#include <catch2/catch.hpp>

#include <sstream>

using namespace medgw::daemon;

namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = run_cli(args, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("--help lists every command of DESIGN.md §3", "[cli]") {
  const Run result = run({"--help"});
  CHECK(result.code == exit_ok);
  for (const char* command : {"run", "check-config", "collect", "upload", "status", "keys generate",
                              "keys recipient", "encrypt", "decrypt", "optout check", "backup", "export-media",
                              "diag", "doctor", "enroll"}) {
    INFO(command);
    CHECK_THAT(result.out, Catch::Contains(std::string("  ") + command + " "));
  }
  CHECK(run({}).code == exit_usage);
}

TEST_CASE("every command has --help with usage, options and exit status", "[cli]") {
  for (const CommandSpec& command : commands()) {
    std::vector<std::string> args;
    std::string name(command.name);
    for (std::size_t start = 0; start < name.size();) {
      const auto space = name.find(' ', start);
      args.push_back(name.substr(start, space - start));
      start = space == std::string::npos ? name.size() : space + 1;
    }
    args.emplace_back("--help");
    const Run result = run(args);
    INFO(command.name);
    CHECK(result.code == exit_ok);
    CHECK_THAT(result.out, Catch::StartsWith("Usage: medgw " + name));
    CHECK_THAT(result.out, Catch::Contains("-c, --config FILE"));
    CHECK_THAT(result.out, Catch::Contains("Exit status:"));
  }
  CHECK(run({"help", "keys", "generate"}).out == run({"keys", "generate", "--help"}).out);
}

TEST_CASE("the version output names the build and the libraries", "[cli]") {
  const Run result = run({"--version"});
  CHECK(result.code == exit_ok);
  CHECK_THAT(result.out, Catch::StartsWith("medgw 0.1.0 (commit "));
  CHECK_THAT(result.out, Catch::Contains("OpenSSL 3.") && Catch::Contains("SQLite 3.") && Catch::Contains("libcurl"));
}

TEST_CASE("usage errors exit 2 and say what to try", "[cli]") {
  const Run unknown = run({"frobnicate"});
  CHECK(unknown.code == exit_usage);
  CHECK_THAT(unknown.err, Catch::Contains("unknown command 'frobnicate'") && Catch::Contains("medgw --help"));

  const Run bad_option = run({"check-config", "--nope"});
  CHECK(bad_option.code == exit_usage);
  CHECK_THAT(bad_option.err, Catch::Contains("unknown option '--nope'") && Catch::Contains("medgw check-config --help"));

  CHECK(run({"check-config", "-c"}).code == exit_usage);
  CHECK(run({"check-config", "--strict=yes"}).code == exit_usage);
  CHECK(run({"check-config", "-c", "a", "-c", "b"}).code == exit_usage);
  CHECK(run({"keys", "recipient"}).code == exit_usage);
  CHECK(run({"keys", "recipient", "a", "b"}).code == exit_usage);
  const Run group = run({"keys"});
  CHECK(group.code == exit_usage);
  CHECK_THAT(group.err, Catch::Contains("medgw keys generate") && Catch::Contains("medgw keys recipient"));
}

TEST_CASE("commands not built yet say so and exit 1", "[cli]") {
  for (const CommandSpec& command : commands()) {
    if (command.run != nullptr) continue;
    std::vector<std::string> args{std::string(command.name.substr(0, command.name.find(' ')))};
    if (command.name.find(' ') != std::string_view::npos) args.emplace_back(command.name.substr(command.name.find(' ') + 1));
    for (std::size_t i = 0; i < command.min_positional; ++i) args.emplace_back("x");
    const Run result = run(args);
    INFO(command.name);
    CHECK(result.code == exit_failure);
    CHECK_THAT(result.err, Catch::Contains("not available yet"));
  }
}

TEST_CASE("option forms: --opt=value, -oVALUE, --, repeatable options", "[cli]") {
  const Run reference = run({"check-config", "--config=/nonexistent.yaml", "--reference"});
  CHECK(reference.code == exit_ok);
  CHECK_THAT(reference.out, Catch::StartsWith("# medgw.yaml reference"));
  const Run missing = run({"check-config", "-c/nonexistent.yaml"});
  CHECK(missing.code == exit_usage);
  CHECK_THAT(missing.err, Catch::Contains("/nonexistent.yaml:1:1: cannot read the config file"));
}
