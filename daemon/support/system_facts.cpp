#include <daemon/support/system_facts.hpp>

#include <daemon/support/process.hpp>

#include <base/json.hpp>

#include <fstream>
#include <thread>

#include <sys/utsname.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::chrono::seconds helper_deadline{10};

std::string os_release_field(const std::string& text, std::string_view name) {
  const std::string prefix = std::string(name) + "=";
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.starts_with(prefix)) {
      std::string value = line.substr(prefix.size());
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return value;
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return {};
}

std::string first_line_of(const char* file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

void write_packages(base::JsonWriter& doc) {
  static const std::vector<std::string> names{"medgw", "libcurl4", "libssl3", "libarchive13", "libsqlite3-0",
                                              "libzstd1", "libsystemd0", "age"};
  std::vector<std::string> dpkg{"dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"};
  dpkg.insert(dpkg.end(), names.begin(), names.end());
  ProgramRun run = run_program(dpkg, 64 * 1024, helper_deadline);
  std::string tool = "dpkg-query";
  if (!run.started) {
    std::vector<std::string> rpm{"rpm", "-q"};
    rpm.insert(rpm.end(), names.begin(), names.end());
    run = run_program(rpm, 64 * 1024, helper_deadline);
    tool = "rpm";
  }
  doc.key("packages").begin_object().field("tool", run.started ? tool : std::string("none"));
  doc.key("lines").begin_array();
  std::size_t at = 0;
  while (at < run.output.size()) {
    const auto end = run.output.find('\n', at);
    const std::string line = run.output.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (!line.empty()) doc.value(line);
    if (end == std::string::npos) break;
    at = end + 1;
  }
  doc.end_array().end_object();
}

}  // namespace

std::string system_json() {
  base::JsonWriter doc;
  doc.begin_object();
  std::ifstream release_file("/etc/os-release");
  std::string release;
  for (std::string line; std::getline(release_file, line);) release += line + "\n";
  doc.key("os").begin_object();
  doc.field("pretty_name", os_release_field(release, "PRETTY_NAME")).field("id", os_release_field(release, "ID"));
  doc.field("version_id", os_release_field(release, "VERSION_ID")).end_object();
  utsname names{};
  if (::uname(&names) == 0) {
    doc.key("kernel").begin_object().field("name", names.sysname).field("release", names.release);
    doc.field("version", names.version).field("machine", names.machine).end_object();
  }
  doc.field("cpus", static_cast<std::uint64_t>(std::thread::hardware_concurrency()));
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) doc.field("memory_bytes", static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size));
  doc.field("uptime", first_line_of("/proc/uptime"));
  doc.field("timezone", first_line_of("/etc/timezone"));
  doc.field("running_as_uid", static_cast<std::uint64_t>(::geteuid()));
  write_packages(doc);
  doc.end_object();
  return doc.take();
}

std::string systemd_unit_text() {
  const ProgramRun run = run_program(
      {"systemctl", "show", "medgw.service", "--no-pager",
       "--property=LoadState,ActiveState,SubState,UnitFileState,Result,NRestarts,ExecMainStartTimestamp,"
       "ExecMainExitTimestamp,ExecMainStatus,MainPID,MemoryCurrent,FragmentPath,DropInPaths,User,Group"},
      64 * 1024, helper_deadline);
  if (!run.started) return "systemctl is not available on this machine\n";
  if (run.exit_status != 0 && run.output.empty()) {
    return "systemctl show medgw.service failed (exit status " + std::to_string(run.exit_status) +
           "; no systemd running here?)\n";
  }
  return run.output;
}

}  // namespace medgw::daemon
