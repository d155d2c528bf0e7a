#include <fhir/patient_directory.hpp>

#include <fhir/resource_rules.hpp>

#include <base/json_reader.hpp>

#include <cerrno>
#include <fstream>
#include <system_error>

#include <sys/stat.h>

namespace medgw::fhir {

PatientDirectory::PatientDirectory(std::filesystem::path folder, std::filesystem::path root, std::string id_system)
    : folder_(std::move(folder)), root_(std::move(root)), id_system_(std::move(id_system)) {}

void PatientDirectory::refresh() {
  const std::lock_guard lock(refresh_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (refreshed_ != std::chrono::steady_clock::time_point{} && now - refreshed_ < std::chrono::seconds(2)) return;
  refreshed_ = now;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code file_ec;
    if (!name.starts_with("Patient") || !name.ends_with(".ndjson") || !it->is_regular_file(file_ec)) continue;
    const auto mtime = static_cast<std::int64_t>(it->last_write_time(file_ec).time_since_epoch().count());
    const std::uintmax_t size = it->file_size(file_ec);
    auto& seen = read_[it->path().string()];
    if (seen == std::pair(mtime, size)) continue;
    seen = {mtime, size};
    std::ifstream in(it->path(), std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      try {
        const base::JsonValue patient = base::JsonValue::parse(line);
        const base::JsonValue* type = patient.find("resourceType");
        const base::JsonValue* id = patient.find("id");
        if (type == nullptr || type->text() != "Patient" || id == nullptr || !id->is_string()) continue;
        const std::string hospital = hospital_patient_id(patient, id_system_);
        if (!hospital.empty()) learn(id->text(), hospital);
      } catch (const base::JsonError&) {
        continue;  // the check counts it when the file itself is read
      }
    }
  }
  flush();
}

base::Database& PatientDirectory::db() {
  if (!db_) {
    std::filesystem::create_directories(folder_.parent_path());
    if (::mkdir(folder_.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::system_error(errno, std::generic_category(), "cannot create " + folder_.string());
    }
    const std::filesystem::path file = folder_ / "patients.db";
    const mode_t old = ::umask(0077);
    db_.emplace(base::Database::open(file, base::Database::Mode::read_write_create));
    ::umask(old);
    db_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
              "CREATE TABLE IF NOT EXISTS patients (fhir_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL) STRICT, "
              "WITHOUT ROWID;");
  }
  return *db_;
}

std::optional<std::string> PatientDirectory::find(const std::string& fhir_id) {
  const std::lock_guard lock(mutex_);
  if (const auto found = pending_.find(fhir_id); found != pending_.end()) return found->second;
  base::Statement query = db().prepare("SELECT patient_id FROM patients WHERE fhir_id = ?1");
  query.bind_all(fhir_id);
  if (query.step()) return query.column_text(0);
  return std::nullopt;
}

void PatientDirectory::learn(const std::string& fhir_id, const std::string& hospital_id) {
  const std::lock_guard lock(mutex_);
  pending_[fhir_id] = hospital_id;
  // Written in batches so a file of millions of patients stays small in memory.
  if (pending_.size() >= 10'000) write_pending();
}

void PatientDirectory::flush() {
  const std::lock_guard lock(mutex_);
  write_pending();
}

void PatientDirectory::write_pending() {
  if (pending_.empty()) return;
  base::Database& database = db();
  database.exec("BEGIN IMMEDIATE");
  base::Statement insert = database.prepare(
      "INSERT INTO patients (fhir_id, patient_id) VALUES (?1, ?2) ON CONFLICT (fhir_id) DO UPDATE SET patient_id = ?2");
  for (const auto& [id, patient] : pending_) {
    insert.bind_all(id, patient).run();
    insert.reset();
  }
  database.exec("COMMIT");
  pending_.clear();
}

}  // namespace medgw::fhir
