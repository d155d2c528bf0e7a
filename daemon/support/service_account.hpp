#pragma once
// The account the service runs as, and whether it can reach a file: doctor
// usually runs as root (sudo medgw doctor), which can read anything, so
// "readable" is checked as the service's user in a child process that drops
// to that user (ACLs and every folder on the way count, as for the service).
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

namespace medgw::daemon {

struct ServiceAccount {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // user name, or "uid N"
  std::string how;   // how it was found, for the report
};

// The `medgw` user (the package's, User= of the unit) when it exists;
// otherwise the owner of state_dir (a hand-made install), else the current user.
[[nodiscard]] ServiceAccount find_service_account(const std::filesystem::path& state_dir);

struct AccessRequest {
  std::filesystem::path path;
  int mode;  // R_OK, W_OK, X_OK as for access(2)
};

struct AccessAnswers {
  std::vector<int> errors;  // per request: 0 allowed, else the errno
  bool as_service_user = true;  // false: checked as the current user (not root, not the service user)
  std::string checked_as;       // the user name the answers are for
};

[[nodiscard]] AccessAnswers access_as(const ServiceAccount& account, const std::vector<AccessRequest>& requests);

}  // namespace medgw::daemon
