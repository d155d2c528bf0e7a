#pragma once
// A real child process for tests: spawned with its stdout on a pipe, killed
// with real signals.
#include <string>
#include <vector>

#include <sys/types.h>

namespace medgw::test {

class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  void kill(int signal);
  // Waits for the exit; returns the wait status.
  int wait();
  // Everything the child wrote to stdout (call after it ended).
  std::string read_stdout();
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool waited_ = false;
};

}  // namespace medgw::test
