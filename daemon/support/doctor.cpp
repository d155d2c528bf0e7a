#include <daemon/support/doctor.hpp>

#include <daemon/support/central_checks.hpp>
#include <daemon/support/http_probe.hpp>
#include <daemon/support/local_checks.hpp>
#include <daemon/support/process.hpp>
#include <daemon/support/service_account.hpp>

#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <base/private_file.hpp>
#include <base/time_format.hpp>

namespace medgw::daemon {
namespace {

constexpr std::size_t shown_problems = 5;

std::string listed(const std::vector<Diagnostic>& diagnostics, Diagnostic::Severity severity, std::size_t& count) {
  std::string out;
  count = 0;
  for (const Diagnostic& diagnostic : diagnostics) {
    if (diagnostic.severity != severity) continue;
    if (++count <= shown_problems) {
      out += (out.empty() ? "" : "; ") + std::to_string(diagnostic.line) + ":" + std::to_string(diagnostic.column) + ": " +
             diagnostic.message;
    }
  }
  if (count > shown_problems) out += "; and " + std::to_string(count - shown_problems) + " more";
  return out;
}

Check config_check(const std::filesystem::path& file, const LoadResult& loaded, const std::vector<Diagnostic>& warnings) {
  const std::string title = "configuration";
  std::size_t count = 0;
  if (!loaded.ok()) {
    const std::string errors = listed(loaded.diagnostics, Diagnostic::Severity::error, count);
    return make_check("config", title, Verdict::fail,
                      file.string() + " has " + std::to_string(count) + " error(s): " + errors,
                      "fix them (medgw check-config -c " + file.string() + " lists each as FILE:LINE:COL)");
  }
  const Config& config = *loaded.config;
  const std::string valid = "valid: facility " + config.facility.code + ", " + std::to_string(config.sources.size()) +
                            " source(s)";
  if (!warnings.empty()) {
    const std::string text = listed(warnings, Diagnostic::Severity::warning, count);
    return make_check("config", title, Verdict::warn, valid + "; " + std::to_string(count) + " warning(s): " + text,
                      "see the checks below; medgw check-config --strict fails on these");
  }
  return make_check("config", title, Verdict::ok, valid);
}

// The service: its status server, else what systemd says.
Check service_check(const Config& config, std::chrono::milliseconds deadline) {
  const std::string title = "the service";
  const LocalPage health = fetch_status_page(config.status.listen, "/healthz", deadline, 64 * 1024);
  if (health.answered) {
    std::string body = health.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    for (char& c : body) c = c == '\n' ? ';' : c;
    if (health.status == 200) {
      return make_check("service", title, Verdict::ok, "running and healthy (status server at " + config.status.listen + ")");
    }
    return make_check("service", title, Verdict::fail,
                      "running but unhealthy (/healthz " + std::to_string(health.status) + "): " + body,
                      "act on the problems above (medgw status shows more); they clear by themselves once fixed");
  }
  const ProgramRun systemd = run_program({"systemctl", "is-active", "medgw"}, 256, std::chrono::seconds(5));
  std::string state = systemd.started ? systemd.output : std::string();
  while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) state.pop_back();
  if (state == "failed") {
    return make_check("service", title, Verdict::fail, "systemd says the medgw unit failed",
                      "journalctl -u medgw -n 50 shows why; fix it, then systemctl restart medgw");
  }
  if (state == "active" || state == "activating" || state == "reloading") {
    return make_check("service", title, Verdict::warn,
                      "the medgw unit is " + state + " but its status server does not answer at " + config.status.listen,
                      "check status.listen (it takes effect at a restart) and journalctl -u medgw");
  }
  return make_check("service", title, Verdict::warn,
                    "not running: nothing answers at " + config.status.listen + " (" + health.error + ")",
                    "start it: systemctl enable --now medgw (doctor's other checks do not need it)");
}

std::string key_password(const Config& config) {
  if (config.central.key_password_file.empty()) return {};
  try {
    const base::SecureBytes bytes = base::read_private_file(config.central.key_password_file);
    std::string text(bytes.begin(), bytes.end());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  } catch (const std::exception&) {
    return {};  // reported by the key file check; TLS then says the key cannot be used
  }
}

}  // namespace

DoctorReport run_doctor(const std::filesystem::path& config_file, const DoctorOptions& options) {
  const auto now = std::chrono::system_clock::now();
  DoctorReport report;
  report.config_file = config_file.string();
  report.generated = base::rfc3339_utc(now);
  const LoadResult loaded = load_config(config_file, config_schema());
  const std::vector<Diagnostic> warnings = check_environment(loaded);
  report.checks.push_back(config_check(config_file, loaded, warnings));
  if (!loaded.ok()) {
    report.checks.push_back(make_check("other", "other checks", Verdict::skip, "they need a valid configuration"));
    return report;
  }
  const Config& config = *loaded.config;
  auto add = [&](std::vector<Check> checks) {
    for (Check& check : checks) report.checks.push_back(std::move(check));
  };
  // Local checks first: the access check forks, best before any thread runs.
  const ServiceAccount account = find_service_account(config.state_dir);
  add(check_state(config, account));
  add(check_sources_and_files(config, account, options.walk_budget));
  report.checks.push_back(check_disk(config));
  report.checks.push_back(check_certificate(config, now));
  const CentralFindings central = check_central(config.central, key_password(config), options.network_deadline);
  add(central.checks);
  report.checks.push_back(check_receipt_key(config, central.receipts_offered));
  report.checks.push_back(check_upload_window(config, now));
  report.checks.push_back(service_check(config, options.status_deadline));
  return report;
}

}  // namespace medgw::daemon
