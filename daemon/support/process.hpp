#pragma once
// Runs a helper program (journalctl, systemctl, dpkg-query) without a shell,
// with a deadline and a cap on what is read of its output: a support bundle
// must finish even when a helper hangs or talks too much.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace medgw::daemon {

struct ProgramRun {
  bool started = false;    // false: not installed, or it could not be started
  int exit_status = -1;    // its exit status when it ended by itself
  std::string output;      // standard output, at most the cap
  bool truncated = false;  // it had more to say: stopped after the cap
  bool timed_out = false;  // stopped at the deadline
};

// argv[0] is looked up in PATH. Standard input is /dev/null, standard error is
// discarded; LC_ALL=C.UTF-8 and no pager or colours.
[[nodiscard]] ProgramRun run_program(const std::vector<std::string>& argv, std::size_t max_output,
                                     std::chrono::milliseconds deadline);

}  // namespace medgw::daemon
