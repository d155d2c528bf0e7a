#include <daemon/support/local_checks.hpp>

#include <daemon/support/certificates.hpp>
#include <daemon/support/judgements.hpp>
#include <daemon/support/state_facts.hpp>

#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <collectors/anomaly.hpp>

#include <crypto/patient_tag.hpp>
#include <crypto/signing.hpp>

#include <spool/state_db.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::size_t sample_size = 24;
constexpr std::uint64_t hint_watch_cap = 100'000;  // ChangeHints' own cap (daemon/service/change_hints.cpp)

std::string errno_text(int error) { return std::strerror(error); }

SecretFileFacts secret_facts(std::string key, const std::filesystem::path& path, const ServiceAccount& account,
                             bool required) {
  SecretFileFacts facts;
  facts.key = std::move(key);
  facts.path = path.string();
  facts.service_uid = account.uid;
  facts.service_user = account.name;
  facts.required = required;
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    facts.exists = true;
    facts.mode = info.st_mode;
    facts.owner = info.st_uid;
  }
  return facts;
}

Check check_state_db(const Config& config) {
  const std::string title = "state.db";
  const std::filesystem::path file = config.state_dir / spool::StateDb::file_name;
  const std::string holder = writer_lock_holder(config.state_dir);
  const std::string held = holder.empty() ? "" : "; the writer lock is held by " + holder;
  auto opened = open_state_for_reading(config.state_dir, std::chrono::milliseconds(2000));
  if (!opened) {
    const base::Error& error = opened.error();
    if (error.code == "missing") return make_check("state.db", title, Verdict::ok, "not created yet (the first collection makes it)");
    if (error.code == "locked") {
      return make_check("state.db", title, Verdict::fail, error.message + held,
                        "find the process holding " + file.string() + " (fuser -v " + file.string() +
                            ") and end it; medgw's own commands never hold it this long");
    }
    if (error.code == "damaged") {
      return make_check("state.db", title, Verdict::fail, error.message,
                        "stop medgw and restore state.db from its backup (docs/operations.md, The state database)");
    }
    return make_check("state.db", title, Verdict::fail, error.message, "run doctor as root or as the medgw user");
  }
  const spool::SchemaState schema = spool::read_schema_state(*opened, gateway_schema());
  const int version = schema.version;
  const int known = gateway_schema().latest_version();
  std::string finding = "schema " + std::to_string(version) + held;
  if (!schema.newer.empty()) {
    return make_check("state.db", title, Verdict::fail, finding + ": written by a newer medgw (" + schema.newer + ")",
                      "install that newer version again, or restore the state.db backup taken before the upgrade");
  }
  // Readable by others only when state_dir lets them in too.
  struct stat info {};
  struct stat folder {};
  if (::stat(file.c_str(), &info) == 0 && ::stat(config.state_dir.c_str(), &folder) == 0 &&
      (info.st_mode & 0004) != 0 && (folder.st_mode & 0001) != 0) {
    return make_check("state.db", title, Verdict::fail, finding + ": readable by others (it holds the file index)",
                      "chmod 600 " + file.string() + " and chmod 0750 " + config.state_dir.string());
  }
  return make_check("state.db", title, Verdict::ok, finding + (version < known ? " (upgraded at the next start)" : ""));
}

// A few files under `root`, found by a bounded walk (a few entries of each
// folder, a few folders deep), relative to `root`.
void sample_tree(const std::filesystem::path& root, const std::string& relative, int depth,
                 std::vector<std::string>& files, std::size_t& budget) {
  std::error_code ec;
  std::filesystem::directory_iterator it(root / relative, ec);
  std::vector<std::string> folders;
  std::size_t taken_here = 0;
  for (; !ec && it != std::filesystem::directory_iterator() && budget > 0 && files.size() < sample_size; it.increment(ec)) {
    --budget;
    const std::string name = it->path().filename().string();
    const std::string child = relative.empty() ? name : relative + "/" + name;
    if (it->is_symlink(ec)) continue;
    if (it->is_directory(ec)) {
      if (folders.size() < 3) folders.push_back(child);
    } else if (it->is_regular_file(ec) && taken_here < 6) {
      files.push_back(child);
      ++taken_here;
    }
  }
  if (depth >= 8) return;
  for (const std::string& folder : folders) sample_tree(root, folder, depth + 1, files, budget);
}

bool fits(const collectors::SourceProfile& profile, const std::string& relative) {
  const collectors::Analysis analysis = profile.analyze(relative, std::nullopt);
  for (std::size_t i = 0; i < collectors::anomaly_count; ++i) {
    const auto anomaly = static_cast<collectors::Anomaly>(i);
    if ((analysis.anomalies & collectors::bit(anomaly)) != 0 && !collectors::is_notice(anomaly)) return false;
  }
  return analysis.meta_json.find("\"kind\":\"unknown\"") == std::string::npos;
}

struct PassPlan {
  const SourcePass* pass = nullptr;
  std::string type;
  bool is_folder = false;
  std::vector<std::string> sample;
  std::size_t root_request = 0;  // index of its access request
};

Check judge_pass(const PassPlan& plan, const AccessAnswers& answers) {
  const SourcePass& pass = *plan.pass;
  const std::string id = "source." + pass.label;
  const std::string title = "source " + pass.label + " (" + plan.type + ")";
  const std::string root = pass.root.string();
  const std::string as = answers.as_service_user ? "the service user " + answers.checked_as : answers.checked_as +
                                                       " (run doctor as root to check as the service user)";
  if (!plan.is_folder) {
    return make_check(id, title, Verdict::fail, root + " is not a folder or does not exist",
                      "mount the share or correct the source's path in medgw.yaml");
  }
  if (const int error = answers.errors[plan.root_request]; error != 0) {
    return make_check(id, title, Verdict::fail, as + " cannot read " + root + ": " + errno_text(error),
                      "grant read access (e.g. setfacl -R -m u:medgw:rX -m d:u:medgw:rX " + root +
                          "); outside /srv also add ReadOnlyPaths=" + root + " with systemctl edit medgw");
  }
  std::size_t unreadable = 0, fitting = 0;
  for (std::size_t i = 0; i < plan.sample.size(); ++i) {
    if (answers.errors[plan.root_request + 1 + i] != 0) ++unreadable;
    if (pass.profile && fits(*pass.profile, plan.sample[i])) ++fitting;
  }
  if (plan.sample.empty()) {
    return make_check(id, title, Verdict::warn, root + " is readable but holds no file",
                      "is the share mounted, and is this the folder the hospital's system writes to?");
  }
  const std::string sampled = std::to_string(plan.sample.size()) + " sampled file(s)";
  if (unreadable > 0) {
    return make_check(id, title, Verdict::fail, as + " cannot read " + std::to_string(unreadable) + " of " + sampled,
                      "grant read access to the files too (e.g. setfacl -R -m u:medgw:rX -m d:u:medgw:rX " + root + ")");
  }
  if (pass.profile && fitting * 2 < plan.sample.size()) {
    return make_check(id, title, Verdict::warn,
                      "readable, but only " + std::to_string(fitting) + " of " + sampled + " are named as " + plan.type +
                          " files are",
                      "check that the path is the right folder (for SS-MIX2 the one holding the 3-digit folders; for "
                      "DPC and receipts the export folder)");
  }
  std::string finding = "readable by " + as + "; " + sampled;
  if (pass.profile) finding += ", " + std::to_string(fitting) + " named as " + plan.type + " files are";
  return make_check(id, title, Verdict::ok, finding);
}

std::pair<std::uint64_t, bool> count_folders(const std::vector<std::filesystem::path>& roots,
                                             std::chrono::milliseconds budget) {
  const auto until = std::chrono::steady_clock::now() + budget;
  std::uint64_t folders = 0;
  std::uint64_t entries = 0;
  for (const std::filesystem::path& root : roots) {
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec)) continue;
    ++folders;
    std::filesystem::recursive_directory_iterator it(root, std::filesystem::directory_options::skip_permission_denied, ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      // The type from readdir (no stat per entry); symlinks are not followed.
      if (!it->is_symlink(ec) && it->is_directory(ec)) ++folders;
      if (folders > hint_watch_cap) return {folders, false};
      if (++entries % 4096 == 0 && std::chrono::steady_clock::now() > until) return {folders, false};
    }
  }
  return {folders, true};
}

}  // namespace

std::uint64_t inotify_watch_limit() {
  std::uint64_t limit = 0;
  for (const char* file : {"/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_inotify_watches"}) {
    std::ifstream in(file);
    std::uint64_t value = 0;
    if (in >> value && (limit == 0 || value < limit)) limit = value;
  }
  return limit;
}

std::vector<Check> check_state(const Config& config, const ServiceAccount& account) {
  std::vector<Check> out;
  StateDirFacts dir{config.state_dir.string(), false, false, 0, 0, account.uid, account.name};
  struct stat info {};
  if (::stat(config.state_dir.c_str(), &info) == 0) {
    dir.exists = true;
    dir.is_directory = S_ISDIR(info.st_mode);
    dir.mode = info.st_mode;
    dir.owner = info.st_uid;
  }
  out.push_back(judge_state_dir(dir));
  out.back().finding += " (service user: " + account.how + ")";
  out.push_back(check_state_db(config));
  out.push_back(judge_secret_file(secret_facts("central.key", config.central.key, account, true)));
  if (!config.central.key_password_file.empty()) {
    out.push_back(judge_secret_file(
        secret_facts("central.key_password_file", config.central.key_password_file, account, true)));
  }
  out.push_back(judge_secret_file(
      secret_facts("signing.key", config.state_dir / crypto::SigningKey::file_name, account, false)));
  out.push_back(judge_secret_file(secret_facts("patient-tag.key", config.state_dir / "patient-tag.key", account, false)));
  return out;
}

std::vector<Check> check_sources_and_files(const Config& config, const ServiceAccount& account,
                                           std::chrono::milliseconds walk_budget) {
  const SourcePlan plan(config);
  std::vector<AccessRequest> requests;
  std::vector<PassPlan> passes;
  std::vector<std::filesystem::path> roots;
  for (std::size_t index = 0; index < config.sources.size(); ++index) {
    for (const SourcePass* pass : plan.of_source(index)) {
      if (pass->root.empty()) continue;
      PassPlan item;
      item.pass = pass;
      item.type = config.sources[index].type;
      std::error_code ec;
      item.is_folder = std::filesystem::is_directory(pass->root, ec);
      if (item.is_folder) {
        std::size_t budget = 2000;
        sample_tree(pass->root, "", 0, item.sample, budget);
        roots.push_back(pass->root);
      }
      item.root_request = requests.size();
      requests.push_back({pass->root, R_OK | X_OK});
      for (const std::string& file : item.sample) requests.push_back({pass->root / file, R_OK});
      passes.push_back(std::move(item));
    }
  }
  // The other files the service opens.
  std::vector<std::pair<std::string, std::filesystem::path>> files{
      {"central.ca", config.central.ca}, {"central.cert", config.central.cert}, {"central.key", config.central.key}};
  for (const auto& [key, path] : {std::pair<std::string, std::filesystem::path>{"central.key_password_file", config.central.key_password_file},
                                  {"central.receipt_key", config.central.receipt_key},
                                  {"policy.optout_file", config.policy.optout_file},
                                  {"policy.notice.register", config.policy.notice.register_file}}) {
    if (!path.empty()) files.emplace_back(key, path);
  }
  const std::size_t files_start = requests.size();
  for (const auto& [key, path] : files) requests.push_back({path, R_OK});
  const AccessAnswers answers = access_as(account, requests);

  std::vector<Check> out;
  for (const PassPlan& item : passes) out.push_back(judge_pass(item, answers));
  std::string unreadable;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (const int error = answers.errors[files_start + i]; error != 0) {
      unreadable += (unreadable.empty() ? "" : "; ") + files[i].first + " " + files[i].second.string() + ": " +
                    errno_text(error);
    }
  }
  const std::string who = answers.checked_as + (answers.as_service_user ? "" : " (not the service user: run as root)");
  if (unreadable.empty()) {
    out.push_back(make_check("files", "files the service reads", Verdict::ok,
                             std::to_string(files.size()) + " file(s) readable by " + who));
  } else {
    out.push_back(make_check("files", "files the service reads", Verdict::fail, who + " cannot read " + unreadable,
                             "put the files there and let the service user read them (chown/chgrp medgw, keys mode "
                             "0600 owned by medgw)"));
  }
  const auto [folders, counted_all] = count_folders(roots, walk_budget);
  out.push_back(judge_inotify({inotify_watch_limit(), folders, counted_all, hint_watch_cap}));
  return out;
}

Check check_disk(const Config& config) {
  std::filesystem::path folder = config.state_dir;
  std::error_code ec;
  while (!folder.empty() && !std::filesystem::exists(folder, ec) && folder != folder.root_path()) folder = folder.parent_path();
  struct statvfs info {};
  if (folder.empty() || ::statvfs(folder.c_str(), &info) != 0) {
    return make_check("disk", "free space for the spool", Verdict::fail,
                      "cannot look at the filesystem of " + config.state_dir.string() + ": " + errno_text(errno),
                      "check state_dir");
  }
  DiskFacts facts;
  facts.free_bytes = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  facts.total_bytes = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize;
  facts.free_inodes = info.f_favail;
  facts.total_inodes = info.f_files;
  facts.min_free = config.spool.min_free;
  facts.max_bytes = config.spool.max_bytes;
  if (auto db = open_state_for_reading(config.state_dir, std::chrono::milliseconds(500))) facts.spooled_bytes = spooled_bytes(*db);
  return judge_disk(facts, folder.string());
}

Check check_certificate(const Config& config, std::chrono::system_clock::time_point now) {
  const CertificateFile file = read_certificates(config.central.cert);
  if (file.certificates.empty()) return judge_certificate_days(std::nullopt, "central.cert: " + file.problem, now);
  return judge_certificate_days(file.certificates.front().expires, {}, now);
}

Check check_receipt_key(const Config& config, bool receipts_offered) {
  const std::string title = "central.receipt_key";
  if (config.central.receipt_key.empty()) {
    return make_check("receipt_key", title, receipts_offered ? Verdict::warn : Verdict::ok,
                      receipts_offered ? "not set, but the central signs receipts: they are kept unchecked"
                                       : "not set (the central does not sign receipts)",
                      "ask the central's operators for their receipt key (one line ed25519:...) and name its file in "
                      "central.receipt_key");
  }
  std::ifstream in(config.central.receipt_key);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (!in && line.empty()) {
    return make_check("receipt_key", title, Verdict::fail, "cannot read " + config.central.receipt_key.string(),
                      "put the central's receipt key file there (one line ed25519:...)");
  }
  if (!crypto::parse_public_key_text(line)) {
    return make_check("receipt_key", title, Verdict::fail,
                      config.central.receipt_key.string() + " does not hold a receipt key (one line ed25519:<base64>)",
                      "get the key again from the central's operators (medgw-receiver receipt-key prints it)");
  }
  return make_check("receipt_key", title, Verdict::ok, "present; receipts are verified");
}

Check check_upload_window(const Config& config, std::chrono::system_clock::time_point now) {
  std::string finding = config.central.window.always
                            ? "uploads at any time"
                            : "uploads only " + config.central.window.text() + " local time";
  if (!config.central.window.always) {
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm local{};
    localtime_r(&t, &local);
    finding += config.central.window.contains(local.tm_hour * 60 + local.tm_min) ? " (open now)" : " (closed now)";
  }
  finding += config.central.bandwidth == 0 ? ", no bandwidth cap"
                                           : ", at most " + human_size(config.central.bandwidth) + "/s";
  return make_check("upload_window", "upload window and bandwidth", Verdict::ok, finding);
}

}  // namespace medgw::daemon
