#include <receiver/external_signer.hpp>

#include <base/unique_fd.hpp>

#include <array>
#include <cerrno>
#include <csignal>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace medgw::receiver {
namespace {

constexpr std::size_t max_output = 64 << 10;
constexpr int timeout_ms = 30'000;

// A ca.command that exits without reading its input must not take the
// receiver down with SIGPIPE: the signal is blocked in this thread while the
// CSR is written (the write fails with EPIPE instead), and one it raised is
// taken off before the mask is restored.
bool write_all(int fd, const std::string& text) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool pending_before = sigismember(&pending, SIGPIPE) == 1;
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  std::size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      ok = false;
      if (wrote < 0 && errno == EPIPE && !pending_before) {
        const timespec now{};
        while (sigtimedwait(&pipe_only, nullptr, &now) < 0 && errno == EINTR) {
        }
      }
      break;
    }
    done += static_cast<std::size_t>(wrote);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return ok;
}

// Reads until EOF, the size cap or the deadline; false on the last two.
bool read_all(int fd, std::string& out) {
  std::array<char, 4096> block{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd waiting{fd, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return got == 0;
    out.append(block.data(), static_cast<std::size_t>(got));
    if (out.size() > max_output) return false;
  }
}

}  // namespace

base::Result<std::string> run_external_signer(const std::string& command, const std::string& csr_pem,
                                              const std::string& facility, std::chrono::seconds validity) {
  std::array<int, 2> input{-1, -1};
  std::array<int, 2> output{-1, -1};
  if (::pipe2(input.data(), O_CLOEXEC) != 0) return base::fail("signer_failed", "cannot make a pipe for ca.command");
  base::UniqueFd input_read(input[0]);
  base::UniqueFd input_write(input[1]);
  if (::pipe2(output.data(), O_CLOEXEC) != 0) return base::fail("signer_failed", "cannot make a pipe for ca.command");
  base::UniqueFd output_read(output[0]);
  base::UniqueFd output_write(output[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input_read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output_write.get(), STDOUT_FILENO);
  std::vector<std::string> variables = {"MEDGW_FACILITY=" + facility,
                                        "MEDGW_VALIDITY_SECONDS=" + std::to_string(validity.count())};
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!text.starts_with("MEDGW_FACILITY=") && !text.starts_with("MEDGW_VALIDITY_SECONDS=")) variables.emplace_back(text);
  }
  std::vector<char*> environment;
  for (std::string& variable : variables) environment.push_back(variable.data());
  environment.push_back(nullptr);
  std::string shell = "/bin/sh";
  std::string flag = "-c";
  std::string script = command;
  std::array<char*, 4> argv{shell.data(), flag.data(), script.data(), nullptr};
  pid_t child = -1;
  const int spawned = ::posix_spawn(&child, shell.c_str(), &actions, nullptr, argv.data(), environment.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return base::fail("signer_failed", "ca.command could not be started");
  input_read.reset();
  output_write.reset();
  // A CSR is far below the pipe's buffer: written whole before reading.
  const bool sent = write_all(input_write.get(), csr_pem);
  input_write.reset();
  std::string pem;
  // Read even when the CSR could not be sent: the command's exit status
  // says more than a broken pipe.
  const bool read = read_all(output_read.get(), pem);
  if (!read) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!read) return base::fail("signer_failed", "ca.command did not answer within 30 s (or printed over 64 KiB)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return base::fail("signer_failed", "ca.command failed (exit status " +
                                           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) + ")");
  }
  if (!sent) return base::fail("signer_failed", "ca.command ended without reading the CSR on its standard input");
  return pem;
}

}  // namespace medgw::receiver
