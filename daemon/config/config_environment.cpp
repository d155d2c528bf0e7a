// Checks of this machine against a valid config (check-config's warnings,
// `medgw run`'s start-up): folders and files exist and are readable, the
// client key is private, the status server stays local.
#include <daemon/config/config_loader.hpp>

#include <base/private_file.hpp>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <unistd.h>

namespace medgw::daemon {

namespace {

Diagnostic warning_at(const LoadResult& loaded, const std::string& key, std::string message) {
  Position at;
  if (auto found = loaded.positions.find(key); found != loaded.positions.end()) at = found->second;
  return Diagnostic{Diagnostic::Severity::warning, loaded.config->origin, at.line, at.column, std::move(message)};
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::vector<Diagnostic> check_environment(const LoadResult& loaded) {
  std::vector<Diagnostic> out;
  if (!loaded.config) return out;
  const Config& config = *loaded.config;

  auto check_folder = [&](const std::string& key, const std::filesystem::path& folder, int mode, std::string_view why) {
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) {
      out.push_back(warning_at(loaded, key, key + ": folder " + folder.string() + " does not exist" + std::string(why)));
    } else if (::access(folder.c_str(), mode) != 0) {
      out.push_back(warning_at(loaded, key, key + ": cannot access " + folder.string() + ": " + errno_text(errno) +
                                                " (medgw runs as the medgw user; grant it access)"));
    }
  };
  auto check_file = [&](const std::string& key, const std::filesystem::path& file) {
    if (file.empty()) return;
    if (::access(file.c_str(), R_OK) != 0) {
      out.push_back(warning_at(loaded, key, key + ": cannot read " + file.string() + ": " + errno_text(errno)));
    }
  };

  check_folder("state_dir", config.state_dir, R_OK | W_OK | X_OK,
               " yet (the package creates it; `medgw run` creates it when missing)");
  for (std::size_t i = 0; i < config.sources.size(); ++i) {
    const SourceTypeSpec* type = loaded.schema == nullptr ? nullptr : loaded.schema->find_type(config.sources[i].type);
    if (type == nullptr) continue;
    for (const KeySpec& spec : type->keys) {
      const std::filesystem::path path = config.sources[i].path(spec.key);
      if (spec.kind != ValueKind::path || path.empty()) continue;
      const std::string key = "sources[" + std::to_string(i) + "]." + std::string(spec.key);
      if (spec.source_folder) {
        check_folder(key, path, R_OK | X_OK, " (is the share mounted?)");
        continue;
      }
      check_file(key, path);
      if (!spec.private_file || ::access(path.c_str(), R_OK) != 0) continue;
      try {
        base::require_private_mode(path);
      } catch (const std::system_error& error) {
        out.push_back(warning_at(loaded, key, key + ": " + error.what()));
      }
    }
  }
  check_file("central.ca", config.central.ca);
  check_file("central.cert", config.central.cert);
  check_file("central.crl", config.central.crl);
  if (::access(config.central.key.c_str(), R_OK) != 0) {
    out.push_back(warning_at(loaded, "central.key", "central.key: cannot read " + config.central.key.string() + ": " +
                                                        errno_text(errno)));
  } else {
    try {
      base::require_private_mode(config.central.key);
    } catch (const std::system_error& error) {
      out.push_back(warning_at(loaded, "central.key", std::string("central.key: ") + error.what()));
    }
  }
  check_file("policy.optout_file", config.policy.optout_file);
  check_file("policy.notice.register", config.policy.notice.register_file);
  if (!config.backup.repository.empty() && !config.backup.repository.starts_with("https://")) {
    check_folder("backup.repository", config.backup.repository, R_OK | W_OK | X_OK,
                 " (is the backup disk mounted? medgw creates the repository inside an existing folder)");
  }
  if (!config.log.file.empty()) {
    check_folder("log.file", config.log.file.parent_path(), W_OK | X_OK, "");
  }
  const std::string& listen = config.status.listen;
  if (!listen.starts_with("127.") && !listen.starts_with("[::1]")) {
    out.push_back(warning_at(loaded, "status.listen",
                             "status.listen " + listen +
                                 " is reachable from the network; the status server has no authentication"));
  }
  return out;
}

}  // namespace medgw::daemon
