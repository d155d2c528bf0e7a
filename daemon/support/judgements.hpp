#pragma once
// The judgements of `medgw doctor`, apart from how the facts are gathered:
// each takes the numbers or modes it judges and returns the check, so unit
// tests give them synthetic facts (a nearly full disk, a low inotify limit, a
// clock ten minutes off) that a test machine cannot be put into.
#include <daemon/support/check.hpp>

#include <base/human_size.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>

namespace medgw::daemon {

struct DiskFacts {
  std::uint64_t free_bytes = 0;    // available to an unprivileged user (f_bavail)
  std::uint64_t total_bytes = 0;
  std::uint64_t free_inodes = 0;   // f_favail
  std::uint64_t total_inodes = 0;  // 0: the filesystem has no fixed inode count (btrfs...)
  std::optional<std::uint64_t> spooled_bytes;  // from state.db, when readable
  std::uint64_t min_free = 0;      // spool.min_free
  std::uint64_t max_bytes = 0;     // spool.max_bytes
};
[[nodiscard]] Check judge_disk(const DiskFacts& facts, const std::string& folder);

struct InotifyFacts {
  std::uint64_t limit = 0;        // the lower of fs.inotify.max_user_watches and user.max_inotify_watches
  std::uint64_t folders = 0;      // folders under the sources' roots, counted
  bool counted_all = true;        // false: the count stopped early (time budget or medgw's cap)
  std::uint64_t medgw_cap = 0;    // the most folders the service ever watches
};
[[nodiscard]] Check judge_inotify(const InotifyFacts& facts);

// The offset of this machine's clock from the central's (local - central);
// nullopt when the central sent no usable Date header.
[[nodiscard]] Check judge_clock(std::optional<std::chrono::seconds> offset, bool central_answered);

// central.cert's validity; `problem` when it could not be read.
[[nodiscard]] Check judge_certificate_days(std::optional<std::chrono::system_clock::time_point> not_after,
                                           const std::string& problem, std::chrono::system_clock::time_point now);

// A file holding a secret (central.key, signing.key...): mode and owner.
struct SecretFileFacts {
  std::string key;   // "central.key" or the file's role
  std::string path;
  bool exists = false;
  mode_t mode = 0;
  uid_t owner = 0;
  uid_t service_uid = 0;
  std::string service_user;
  bool required = true;  // missing is a failure (central.key) or fine (created on first use)
};
[[nodiscard]] Check judge_secret_file(const SecretFileFacts& facts);

struct StateDirFacts {
  std::string path;
  bool exists = false;
  bool is_directory = false;
  mode_t mode = 0;
  uid_t owner = 0;
  uid_t service_uid = 0;
  std::string service_user;
};
[[nodiscard]] Check judge_state_dir(const StateDirFacts& facts);

// Sizes for people: "1.5 GiB".
using base::human_size;

}  // namespace medgw::daemon
