#pragma once
// The medgw command line: a table of commands with their options, help text
// generated from it, and dispatch. Exit codes: 0 ok, 1 runtime failure,
// 2 usage or config error (DESIGN.md §3).
#include <filesystem>
#include <iosfwd>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::daemon {

enum ExitCode : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

struct OptionSpec {
  std::string_view long_name;   // "config"
  char short_name;              // 'c', or 0
  std::string_view value_name;  // "FILE"; empty for a flag
  std::string_view help;
  bool repeatable = false;
};

struct Invocation;

struct CommandSpec {
  std::string_view name;        // "check-config", "keys generate"
  std::string_view arguments;   // synopsis of positional arguments, e.g. "[IN]"
  std::size_t min_positional;
  std::size_t max_positional;
  std::string_view summary;     // one line, for `medgw --help`
  std::string_view description; // paragraphs for `medgw NAME --help`
  std::string_view examples;    // lines of examples
  std::span<const OptionSpec> options;
  int (*run)(Invocation& invocation);  // nullptr: not available yet
};

struct Invocation {
  const CommandSpec* command = nullptr;
  std::map<std::string, std::vector<std::string>, std::less<>> options;
  std::vector<std::string> positional;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;

  [[nodiscard]] bool has(std::string_view option) const { return options.contains(option); }
  [[nodiscard]] std::string value(std::string_view option, std::string_view fallback = {}) const;
  [[nodiscard]] const std::vector<std::string>& values(std::string_view option) const;
  [[nodiscard]] std::filesystem::path config_path() const;
};

[[nodiscard]] std::span<const CommandSpec> commands();

// Parses argv and runs the command; the whole CLI behind main().
int run_cli(std::span<const std::string> args, std::ostream& out, std::ostream& err);

[[nodiscard]] std::string command_help(const CommandSpec& command);
[[nodiscard]] std::string overview_help();
[[nodiscard]] std::string version_text();

}  // namespace medgw::daemon
