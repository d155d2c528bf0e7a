#pragma once
// Which hospital patient a FHIR Patient's logical id stands for, learnt from
// the Patient resources a `fhir` source has read (their JP Core identifier),
// so that resources in other files ("Patient/<id>" in Observation.ndjson)
// can be judged by the patient policy. Kept in
// state_dir/fhir/<source>/patients.db (mode 0600 in a 0700 folder: it maps
// to patient IDs, as the file index does). Thread-safe.
#include <base/sqlite.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace medgw::fhir {

class PatientDirectory {
 public:
  // Opens (creates) the database lazily, on first use. `root`: the source's
  // folder, whose Patient*.ndjson files refresh() reads; `id_system` the
  // identifier system of the hospital's patient IDs.
  PatientDirectory(std::filesystem::path folder, std::filesystem::path root, std::string id_system);

  // Learns the Patients of every Patient*.ndjson under the root that changed
  // since it was last read (at most every 2 s), so that the resources of
  // other files are judged even when they are read before their Patients.
  void refresh();

  [[nodiscard]] std::optional<std::string> find(const std::string& fhir_id);
  // Remembered at once in memory, written by flush().
  void learn(const std::string& fhir_id, const std::string& hospital_id);
  void flush();

 private:
  base::Database& db();
  void write_pending();  // mutex_ held

  std::filesystem::path folder_;
  std::filesystem::path root_;
  std::string id_system_;
  std::mutex mutex_;
  std::mutex refresh_mutex_;
  std::chrono::steady_clock::time_point refreshed_{};
  std::map<std::string, std::pair<std::int64_t, std::uintmax_t>> read_;  // path -> mtime, size
  std::optional<base::Database> db_;
  std::map<std::string, std::string, std::less<>> pending_;
};

}  // namespace medgw::fhir
