// medgw: entry point. Everything the commands need is built and wired in the
// command handlers from the config; nothing global lives here.
#include <daemon/cli/cli.hpp>
#include <daemon/delivery/curl_global.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    const medgw::daemon::CurlGlobal curl;  // before any thread, for every command; cleaned up at exit
    return medgw::daemon::run_cli(args, std::cout, std::cerr);
  } catch (const std::exception& error) {
    std::cerr << "medgw: " << error.what() << "\n";
    return medgw::daemon::exit_failure;
  }
}
