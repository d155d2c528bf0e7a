#include <daemon/support/judgements.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace medgw::daemon {

namespace {

std::string octal(mode_t mode) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return text.data();
}

}  // namespace

Check judge_disk(const DiskFacts& facts, const std::string& folder) {
  const std::string title = "free space for the spool";
  std::string finding = human_size(facts.free_bytes) + " free on the filesystem of " + folder + " (spool.min_free " +
                        human_size(facts.min_free) + ")";
  if (facts.total_inodes > 0) finding += ", " + std::to_string(facts.free_inodes) + " inodes free";
  if (facts.spooled_bytes) {
    finding += "; the spool holds " + human_size(*facts.spooled_bytes) + " of spool.max_bytes " + human_size(facts.max_bytes);
  }
  const std::string make_room =
      "free space on that filesystem (or move state_dir to a larger disk), or lower spool.min_free; collection resumes "
      "by itself";
  if (facts.free_bytes < facts.min_free) {
    return make_check("disk", title, Verdict::fail, finding + ": below spool.min_free, collection is paused", make_room);
  }
  if (facts.total_inodes > 0 && facts.free_inodes < 1000) {
    return make_check("disk", title, Verdict::fail, finding + ": almost no inodes left",
                      "remove files on that filesystem or move state_dir to a filesystem with more inodes");
  }
  if (facts.spooled_bytes && facts.max_bytes > 0 && *facts.spooled_bytes >= facts.max_bytes) {
    return make_check("disk", title, Verdict::fail, finding + ": the spool is full, collection is paused",
                      "check the uploads (medgw doctor's central checks, medgw status); the spool drains as the central "
                      "confirms objects");
  }
  // Less than twice the reserve, or a tenth of the spool's room: it will stop soon.
  const std::uint64_t headroom = facts.min_free + std::max<std::uint64_t>(facts.min_free, facts.max_bytes / 10);
  if (facts.free_bytes < headroom) {
    return make_check("disk", title, Verdict::warn, finding + ": close to spool.min_free, collection will pause soon",
                      make_room);
  }
  if (facts.total_inodes > 0 && facts.free_inodes < 10000) {
    return make_check("disk", title, Verdict::warn, finding + ": few inodes left",
                      "remove files on that filesystem or move state_dir to a filesystem with more inodes");
  }
  if (facts.spooled_bytes && facts.max_bytes > 0 && *facts.spooled_bytes >= facts.max_bytes / 10 * 9) {
    return make_check("disk", title, Verdict::warn, finding + ": the spool is over 90% full",
                      "check the uploads (medgw status: oldest object, last upload)");
  }
  return make_check("disk", title, Verdict::ok, finding);
}

Check judge_inotify(const InotifyFacts& facts) {
  const std::string title = "inotify watch limit";
  const std::uint64_t needed = std::min(facts.folders, facts.medgw_cap);
  std::string finding = "limit " + std::to_string(facts.limit) + " watches; the sources have " +
                        (facts.counted_all ? "" : "at least ") + std::to_string(facts.folders) + " folders";
  const std::string remedy =
      "raise the limit: echo 'fs.inotify.max_user_watches = 524288' > /etc/sysctl.d/60-medgw-inotify.conf && sysctl "
      "--system (changes are still found by the periodic scans meanwhile, only later)";
  if (facts.limit < needed) {
    return make_check("inotify", title, Verdict::warn,
                      finding + ": not every folder can be watched, so changes there wait for the next scan", remedy);
  }
  // Other programs of the same user need watches too.
  if (needed > facts.limit / 10 * 9) {
    return make_check("inotify", title, Verdict::warn, finding + ": more than 90% of the limit would be used", remedy);
  }
  if (facts.folders > facts.medgw_cap) {
    return make_check("inotify", title, Verdict::ok,
                      finding + "; the service watches the first " + std::to_string(facts.medgw_cap) +
                          " and finds the rest by its periodic scans");
  }
  return make_check("inotify", title, Verdict::ok, finding);
}

Check judge_clock(std::optional<std::chrono::seconds> offset, bool central_answered) {
  const std::string title = "clock against the central";
  if (!central_answered) {
    return make_check("clock", title, Verdict::skip, "not compared: the central did not answer");
  }
  if (!offset) {
    return make_check("clock", title, Verdict::skip,
                      "not compared: the central's answer has no Date header (check the time by hand: timedatectl)");
  }
  const long long seconds = offset->count();
  const std::string finding = "this machine's clock is " + std::to_string(std::llabs(seconds)) + " s " +
                              (seconds >= 0 ? "ahead of" : "behind") + " the central's";
  const std::string remedy =
      "turn on time synchronisation (timedatectl set-ntp true, or chrony/ntpd pointed at the hospital's time "
      "server); certificates and receipts are judged by the clock";
  if (std::llabs(seconds) > 300) return make_check("clock", title, Verdict::fail, finding, remedy);
  if (std::llabs(seconds) > 30) return make_check("clock", title, Verdict::warn, finding, remedy);
  return make_check("clock", title, Verdict::ok, finding);
}

Check judge_certificate_days(std::optional<std::chrono::system_clock::time_point> not_after,
                             const std::string& problem, std::chrono::system_clock::time_point now) {
  const std::string title = "client certificate validity";
  const std::string renew = "renew the gateway's certificate with the central's operators (then systemctl reload medgw)";
  if (!not_after) {
    return make_check("certificate", title, Verdict::fail, problem,
                      "central.cert must name this gateway's PEM certificate; " + renew);
  }
  const auto left = std::chrono::duration_cast<std::chrono::hours>(*not_after - now).count();
  const long long days = left / 24;
  if (left < 0) {
    return make_check("certificate", title, Verdict::fail,
                      "central.cert expired " + std::to_string(-days) + " day(s) ago: the central refuses it", renew);
  }
  const std::string finding = "central.cert is valid for " + std::to_string(days) + " more day(s)";
  if (days < 30) return make_check("certificate", title, Verdict::warn, finding, renew);
  return make_check("certificate", title, Verdict::ok, finding);
}

Check judge_secret_file(const SecretFileFacts& facts) {
  const std::string id = "key." + facts.key;
  const std::string title = facts.key + " file";
  if (!facts.exists) {
    if (!facts.required) return make_check(id, title, Verdict::ok, "not created yet (made on first use, mode 0600)");
    return make_check(id, title, Verdict::fail, facts.path + " does not exist",
                      "put the file there or correct " + facts.key + " in medgw.yaml");
  }
  const std::string finding = facts.path + " mode " + octal(facts.mode);
  if ((facts.mode & 077) != 0) {
    return make_check(id, title, Verdict::fail, finding + ": readable by group or others (must be 0600)",
                      "chmod 600 " + facts.path);
  }
  if (facts.owner != facts.service_uid) {
    return make_check(id, title, Verdict::fail,
                      finding + ", owned by uid " + std::to_string(facts.owner) + ": the service user " +
                          facts.service_user + " cannot read it",
                      "chown " + facts.service_user + " " + facts.path);
  }
  return make_check(id, title, Verdict::ok, finding + ", owned by " + facts.service_user);
}

Check judge_state_dir(const StateDirFacts& facts) {
  const std::string title = "state_dir owner and mode";
  if (!facts.exists) {
    return make_check("state_dir", title, Verdict::warn, facts.path + " does not exist yet",
                      "it is created by the package (or by medgw run); check that state_dir is right");
  }
  if (!facts.is_directory) {
    return make_check("state_dir", title, Verdict::fail, facts.path + " is not a folder", "correct state_dir");
  }
  const std::string finding = facts.path + " mode " + octal(facts.mode) + ", owner uid " + std::to_string(facts.owner);
  const std::string fix = "chown " + facts.service_user + ": " + facts.path + " && chmod 0750 " + facts.path;
  if (facts.owner != facts.service_uid) {
    return make_check("state_dir", title, Verdict::fail, finding + ": not owned by the service user " + facts.service_user,
                      fix);
  }
  if ((facts.mode & 0007) != 0 || (facts.mode & 0020) != 0) {
    return make_check("state_dir", title, Verdict::fail,
                      finding + ": open to others (it holds the file index, which names patients)", fix);
  }
  return make_check("state_dir", title, Verdict::ok, finding + " (" + facts.service_user + ")");
}

}  // namespace medgw::daemon
