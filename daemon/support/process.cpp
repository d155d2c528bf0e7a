#include <daemon/support/process.hpp>

#include <base/unique_fd.hpp>

#include <array>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace medgw::daemon {
namespace {

std::vector<std::string> child_environment() {
  std::vector<std::string> out;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.starts_with("LC_ALL=") || text.starts_with("SYSTEMD_PAGER=") || text.starts_with("SYSTEMD_COLORS=") ||
        text.starts_with("PAGER=")) {
      continue;
    }
    out.emplace_back(text);
  }
  out.emplace_back("LC_ALL=C.UTF-8");
  out.emplace_back("SYSTEMD_PAGER=");
  out.emplace_back("SYSTEMD_COLORS=0");
  out.emplace_back("PAGER=cat");
  return out;
}

struct SpawnActions {
  posix_spawn_file_actions_t actions{};
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

ProgramRun run_program(const std::vector<std::string>& argv, std::size_t max_output, std::chrono::milliseconds deadline) {
  ProgramRun run;
  if (argv.empty()) return run;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return run;
  base::UniqueFd read_end(pipe_fds[0]);
  base::UniqueFd write_end(pipe_fds[1]);
  SpawnActions spawn;
  posix_spawn_file_actions_addopen(&spawn.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), 1);
  posix_spawn_file_actions_addopen(&spawn.actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> environment = child_environment();
  std::vector<char*> env;
  for (std::string& entry : environment) env.push_back(entry.data());
  env.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], &spawn.actions, nullptr, args.data(), env.data()) != 0) return run;
  run.started = true;
  write_end.reset();

  const auto until = std::chrono::steady_clock::now() + deadline;
  std::array<char, 65536> buffer{};
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd waiting{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline is checked above
    const ssize_t got = ::read(read_end.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    const std::size_t room = max_output - run.output.size();
    run.output.append(buffer.data(), std::min(room, static_cast<std::size_t>(got)));
    if (static_cast<std::size_t>(got) > room || run.output.size() >= max_output) {
      run.truncated = true;
      break;
    }
  }
  read_end.reset();  // a helper still writing gets SIGPIPE
  int status = 0;
  bool reaped = false;
  if (run.timed_out || run.truncated) {
    // Asked to stop; killed when it does not within 2 s.
    ::kill(pid, SIGTERM);
    for (int attempt = 0; attempt < 200 && !reaped; ++attempt) {
      reaped = ::waitpid(pid, &status, WNOHANG) == pid;
      if (!reaped) ::usleep(10'000);
    }
    if (!reaped) ::kill(pid, SIGKILL);
  }
  while (!reaped && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) run.exit_status = WEXITSTATUS(status);
  // posix_spawnp reports a missing program as exit status 127 of the child.
  if (run.exit_status == 127 && run.output.empty()) run.started = false;
  return run;
}

}  // namespace medgw::daemon
