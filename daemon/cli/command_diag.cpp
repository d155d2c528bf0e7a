// medgw diag [-o FILE] [--review] [--since DURATION]: the support bundle
// (daemon/support/diag.hpp).
#include <daemon/cli/commands.hpp>

#include <daemon/config/units.hpp>
#include <daemon/support/diag.hpp>

#include <ostream>

#include <curl/curl.h>

namespace medgw::daemon {

int command_diag(Invocation& invocation) {
  std::ostream& err = *invocation.err;
  DiagOptions options;
  options.config_file = invocation.config_path();
  options.output = invocation.value("output");
  options.review = invocation.has("review");
  options.build = version_text();
  if (invocation.has("since")) {
    const auto since = parse_duration(invocation.value("since"));
    if (!since || since.value->count() <= 0) {
      err << "medgw diag: --since " << invocation.value("since") << ": give a duration such as 24h or 3d\n";
      return exit_usage;
    }
    options.since = *since.value;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any transfer
  const DiagResult result = run_diag(options);
  if (result.exit_code != 0) {
    err << "medgw diag: " << result.message << "\n";
    return result.exit_code;
  }
  *invocation.out << "medgw diag: " << result.message << "\n";
  if (options.review) {
    *invocation.out << "Read it before it leaves the hospital: mkdir review && tar --zstd -xf " << result.file.string()
                    << " -C review\n"
                       "Then encrypt it to the support team's key: medgw encrypt -r age1... -o "
                    << result.file.string() << ".age " << result.file.string() << "\n";
  } else {
    *invocation.out << "Only the support team's key opens it. To read it first, run medgw diag --review.\n";
  }
  return exit_ok;
}

}  // namespace medgw::daemon
