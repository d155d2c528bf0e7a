#include <daemon/support/service_account.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr const char* service_user_name = "medgw";

std::string user_name(uid_t uid) {
  if (const passwd* entry = ::getpwuid(uid)) return entry->pw_name;
  return "uid " + std::to_string(uid);
}

gid_t primary_group(uid_t uid, gid_t fallback) {
  if (const passwd* entry = ::getpwuid(uid)) return entry->pw_gid;
  return fallback;
}

std::vector<gid_t> groups_of(const ServiceAccount& account) {
  const passwd* entry = ::getpwuid(account.uid);
  if (entry == nullptr) return {account.gid};
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(entry->pw_name, account.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(entry->pw_name, account.gid, groups.data(), &count) < 0) return {account.gid};
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

AccessAnswers access_directly(const std::vector<AccessRequest>& requests, std::string checked_as, bool as_service) {
  AccessAnswers answers;
  answers.as_service_user = as_service;
  answers.checked_as = std::move(checked_as);
  for (const AccessRequest& request : requests) {
    answers.errors.push_back(::access(request.path.c_str(), request.mode) == 0 ? 0 : errno);
  }
  return answers;
}

}  // namespace

ServiceAccount find_service_account(const std::filesystem::path& state_dir) {
  if (const passwd* entry = ::getpwnam(service_user_name)) {
    return {entry->pw_uid, entry->pw_gid, entry->pw_name, "the medgw user"};
  }
  struct stat info {};
  if (::stat(state_dir.c_str(), &info) == 0) {
    return {info.st_uid, primary_group(info.st_uid, info.st_gid), user_name(info.st_uid),
            "the owner of state_dir (there is no medgw user)"};
  }
  return {::geteuid(), ::getegid(), user_name(::geteuid()), "the current user (no medgw user, no state_dir yet)"};
}

AccessAnswers access_as(const ServiceAccount& account, const std::vector<AccessRequest>& requests) {
  const uid_t self = ::geteuid();
  if (self == account.uid) return access_directly(requests, account.name, true);
  if (self != 0) return access_directly(requests, user_name(self), false);

  // Everything the child needs is prepared here: after fork it only makes
  // system calls.
  const std::vector<gid_t> groups = groups_of(account);
  std::vector<std::string> paths;
  for (const AccessRequest& request : requests) paths.push_back(request.path.string());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  base::UniqueFd read_end(pipe_fds[0]);
  base::UniqueFd write_end(pipe_fds[1]);
  const pid_t child = ::fork();
  if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (child == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(account.gid) != 0 || ::setuid(account.uid) != 0) {
      ::_exit(3);
    }
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const unsigned char code = ::access(paths[i].c_str(), requests[i].mode) == 0 ? 0 : static_cast<unsigned char>(errno);
      if (::write(write_end.get(), &code, 1) != 1) ::_exit(4);
    }
    ::_exit(0);
  }
  write_end.reset();
  AccessAnswers answers;
  answers.checked_as = account.name;
  unsigned char code = 0;
  while (answers.errors.size() < requests.size()) {
    const ssize_t got = ::read(read_end.get(), &code, 1);
    if (got == 1) {
      answers.errors.push_back(code);
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (answers.errors.size() != requests.size()) {
    // Could not become the service user: answer as ourselves rather than not at all.
    return access_directly(requests, user_name(self), false);
  }
  return answers;
}

}  // namespace medgw::daemon
