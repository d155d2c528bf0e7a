// medgw spool release SEQ / spool resend SEQ: an operator's decision about an
// object the central's receipt did not confirm (or that it rejected).
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <charconv>
#include <ostream>

namespace medgw::daemon {
namespace {

int decide(Invocation& invocation, std::string_view command, base::Status (spool::Spool::*decision)(std::uint64_t)) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::string& text = invocation.positional.at(0);
  std::uint64_t seq = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (error != std::errc() || end != text.data() + text.size() || seq == 0) {
    err << "medgw spool " << command << ": SEQ must be an object's sequence number (medgw status lists them)\n";
    return exit_usage;
  }
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const std::unique_ptr<Runtime> runtime = open_runtime_reporting(*loaded, "spool " + std::string(command), err);
  if (!runtime) return exit_failure;
  if (const base::Status done = (*runtime->spool.*decision)(seq); !done) {
    err << "medgw spool " << command << ": " << done.error().message << "\n";
    return exit_failure;
  }
  out << "object " << seq << (command == "release" ? ": released (recorded as delivered, with the receipt it had)\n"
                                                    : ": will be sent again from the start\n");
  return exit_ok;
}

}  // namespace

int command_spool_release(Invocation& invocation) { return decide(invocation, "release", &spool::Spool::release); }
int command_spool_resend(Invocation& invocation) { return decide(invocation, "resend", &spool::Spool::resend); }

}  // namespace medgw::daemon
