#include <daemon/cli/cli.hpp>
#include <daemon/cli/commands.hpp>

#include <daemon/config/config.hpp>

#include <medgw/build_info.hpp>

#include <algorithm>
#include <optional>
#include <ostream>

#include <archive.h>
#include <boost/version.hpp>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <zstd.h>

namespace medgw::daemon {
namespace {

constexpr OptionSpec help_option{"help", 'h', "", "show this help and exit"};

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  while (!text.empty()) {
    const auto space = text.find(' ');
    words.push_back(text.substr(0, space));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return words;
}

// Wraps a paragraph at 78 columns with a hanging indent.
std::string wrap(std::string_view text, std::size_t indent) {
  std::string out;
  std::size_t column = indent;
  for (std::string_view word : split_words(text)) {
    if (column + word.size() + 1 > 78 && column > indent) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (column > indent) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
  }
  return out;
}

std::string option_label(const OptionSpec& option) {
  std::string label = option.short_name ? std::string("-") + option.short_name + ", " : "    ";
  label += "--" + std::string(option.long_name);
  if (!option.value_name.empty()) label += " " + std::string(option.value_name);
  return label;
}

const OptionSpec* find_option(const CommandSpec& command, std::string_view long_name, char short_name) {
  auto matches = [&](const OptionSpec& option) {
    return long_name.empty() ? option.short_name == short_name && short_name != 0 : option.long_name == long_name;
  };
  for (const OptionSpec& option : command.options) {
    if (matches(option)) return &option;
  }
  if (matches(help_option)) return &help_option;
  return nullptr;
}

int usage_error(std::ostream& err, const std::string& message, const CommandSpec* command) {
  err << "medgw: " << message << "\n";
  if (command != nullptr) {
    err << "Try 'medgw " << command->name << " --help'.\n";
  } else {
    err << "Try 'medgw --help'.\n";
  }
  return exit_usage;
}

}  // namespace

std::string Invocation::value(std::string_view option, std::string_view fallback) const {
  auto found = options.find(option);
  if (found == options.end() || found->second.empty()) return std::string(fallback);
  return found->second.back();
}

const std::vector<std::string>& Invocation::values(std::string_view option) const {
  static const std::vector<std::string> none;
  auto found = options.find(option);
  return found == options.end() ? none : found->second;
}

std::filesystem::path Invocation::config_path() const { return value("config", default_config_path); }

std::string command_help(const CommandSpec& command) {
  std::string out = "Usage: medgw " + std::string(command.name);
  if (!command.options.empty()) out += " [OPTIONS]";
  if (!command.arguments.empty()) out += " " + std::string(command.arguments);
  out += "\n\n";
  for (std::string_view paragraph : {command.summary, command.description}) {
    std::string_view rest = paragraph;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      out += wrap(rest.substr(0, end), 0) + "\n";
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    if (!paragraph.empty()) out += "\n";
  }
  if (command.run == nullptr) out += "(Not available yet in this version.)\n\n";
  out += "Options:\n";
  std::size_t width = 0;
  std::vector<const OptionSpec*> all;
  for (const OptionSpec& option : command.options) all.push_back(&option);
  all.push_back(&help_option);
  for (const OptionSpec* option : all) width = std::max(width, option_label(*option).size());
  for (const OptionSpec* option : all) {
    const std::string label = option_label(*option);
    out += "  " + label + std::string(width - label.size() + 2, ' ') + wrap(option->help, width + 4) + "\n";
  }
  out += "\nExit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n";
  if (!command.examples.empty()) {
    out += "\nExamples:\n";
    std::string_view rest = command.examples;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      out += "  " + std::string(rest.substr(0, end)) + "\n";
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  return out;
}

std::string overview_help() {
  std::string out =
      "Usage: medgw COMMAND [OPTIONS]\n\n"
      "medgw watches a hospital's SS-MIX2 storage and its DPC and receipt (UKE) exports,\n"
      "encrypts every change (age), keeps it in a durable spool and uploads it over mutual\n"
      "TLS to the central collector.\n\n"
      "Commands:\n";
  std::size_t width = 0;
  for (const CommandSpec& command : commands()) width = std::max(width, command.name.size());
  for (const CommandSpec& command : commands()) {
    out += "  " + std::string(command.name) + std::string(width - command.name.size() + 2, ' ') +
           wrap(command.summary, width + 4);
    if (command.run == nullptr) out += " (not available yet)";
    out += "\n";
  }
  out +=
      "\nEvery command reads the configuration from -c/--config FILE (default " +
      std::string(default_config_path) +
      ").\n"
      "Run 'medgw COMMAND --help' for a command's options and examples.\n"
      "Configuration reference: /usr/share/doc/medgw/config.md (medgw check-config --reference).\n\n"
      "Options:\n"
      "  -h, --help     show this help\n"
      "      --version  show version and build information\n";
  return out;
}

std::string version_text() {
  std::string out = "medgw " + std::string(build_info::version) + " (commit " + build_info::commit + ", " +
                    build_info::build_type + ", " + build_info::compiler + ", " + build_info::flavour + ")\n";
  const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
  std::string boost = BOOST_LIB_VERSION;
  std::replace(boost.begin(), boost.end(), '_', '.');
  out += std::string("libraries: ") + OpenSSL_version(OPENSSL_VERSION) + ", SQLite " + sqlite3_libversion() +
         ", libcurl " + curl->version + ", " + archive_version_string() + ", zstd " + ZSTD_versionString() +
         ", Boost " + boost + "\n";
  return out;
}

int run_cli(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help") {
      // "medgw help keys generate" = "medgw keys generate --help"
      std::vector<std::string> rest(args.begin() + 1, args.end());
      rest.emplace_back("--help");
      return run_cli(rest, out, err);
    }
    out << overview_help();
    return args.empty() ? exit_usage : exit_ok;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    out << version_text();
    return exit_ok;
  }

  // The longest command name that matches the leading words ("keys generate").
  const CommandSpec* command = nullptr;
  std::size_t consumed = 0;
  for (const CommandSpec& candidate : commands()) {
    const auto words = split_words(candidate.name);
    if (words.size() > args.size() || words.size() <= consumed) continue;
    if (std::equal(words.begin(), words.end(), args.begin())) {
      command = &candidate;
      consumed = words.size();
    }
  }
  if (command == nullptr) {
    // "medgw keys" alone: list its subcommands.
    std::string group_help;
    for (const CommandSpec& candidate : commands()) {
      if (candidate.name.starts_with(args[0] + " ")) {
        group_help += "  medgw " + std::string(candidate.name) + "  " + std::string(candidate.summary) + "\n";
      }
    }
    if (!group_help.empty()) {
      err << "medgw " << args[0] << ": choose a subcommand:\n" << group_help;
      return exit_usage;
    }
    return usage_error(err, "unknown command '" + args[0] + "'", nullptr);
  }

  Invocation invocation;
  invocation.command = command;
  invocation.out = &out;
  invocation.err = &err;
  bool options_done = false;
  for (std::size_t i = consumed; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || !arg.starts_with("-")) {
      invocation.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> inline_value;
    const OptionSpec* option = nullptr;
    if (arg.starts_with("--")) {
      name = arg.substr(2);
      if (auto equals = name.find('='); equals != std::string::npos) {
        inline_value = name.substr(equals + 1);
        name.resize(equals);
      }
      option = find_option(*command, name, 0);
    } else if (arg.size() == 2) {
      option = find_option(*command, {}, arg[1]);
    } else {
      // "-ofile" style
      option = find_option(*command, {}, arg[1]);
      if (option != nullptr && !option->value_name.empty()) inline_value = arg.substr(2);
      else option = nullptr;
    }
    if (option == nullptr) return usage_error(err, "unknown option '" + arg + "' for '" + std::string(command->name) + "'", command);
    if (option == &help_option) {
      out << command_help(*command);
      return exit_ok;
    }
    std::string value;
    if (!option->value_name.empty()) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage_error(err, "option '--" + std::string(option->long_name) + "' needs a value " +
                                    std::string(option->value_name), command);
      }
    } else if (inline_value) {
      return usage_error(err, "option '--" + std::string(option->long_name) + "' takes no value", command);
    }
    auto& slot = invocation.options[std::string(option->long_name)];
    if (!slot.empty() && !option->repeatable) {
      return usage_error(err, "option '--" + std::string(option->long_name) + "' given twice", command);
    }
    slot.push_back(value);
  }
  if (invocation.positional.size() < command->min_positional) {
    return usage_error(err, "'" + std::string(command->name) + "' needs " + std::string(command->arguments), command);
  }
  if (invocation.positional.size() > command->max_positional) {
    return usage_error(err, "too many arguments for '" + std::string(command->name) + "'", command);
  }
  if (command->run == nullptr) {
    err << "medgw " << command->name << ": not available yet in medgw " << build_info::version << "\n";
    return exit_failure;
  }
  return command->run(invocation);
}

log::Logger command_logger(const Config& config, std::string component) {
  const log::Level level = log::parse_level(config.log.level).value_or(log::Level::info);
  auto core = std::make_shared<log::LogCore>(level);
  if (!config.log.file.empty()) {
    try {
      core->add_sink(std::make_shared<log::FileSink>(config.log.file));
    } catch (const std::exception&) {
      // an unwritable log file does not stop the command; check-config warns about it
    }
  }
  return log::Logger(core, std::move(component));
}

}  // namespace medgw::daemon
