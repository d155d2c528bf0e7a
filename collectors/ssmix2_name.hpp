#pragma once
// SS-MIX2 standardized-storage paths (domain.md §1.2-1.3):
//   <pid[0:3]>/<pid[3:6]>/<pid>/<date|->/<data type>/<file name>
// file name: <pid>_<date|->_<data type>_<order no>_<timestamp>_<dept>_<flag>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

struct Ssmix2FileName {
  std::string patient_id;
  std::string care_date;   // YYYYMMDD or "-"
  std::string data_type;   // "OMP-01", "OMD", ...
  std::string order_no;    // 1-15 digits; 15 nines when the type has no order
  std::string timestamp;   // 14-17 digits (YYYYMMDDHHMMSS[FFF])
  std::string department;  // code or "-"
  char condition_flag = '1';  // '1' current, '2' superseded, '0' deleted

  // (patient, date, type, order): the item whose versions the flag tracks.
  [[nodiscard]] std::string logical_key() const;
  [[nodiscard]] std::string format() const;
};

// Parses the tolerant grammar of domain.md §1.3; nullopt when it does not fit.
[[nodiscard]] std::optional<Ssmix2FileName> parse_ssmix2_file_name(std::string_view name);

enum class Ssmix2PathProblem {
  bad_file_name,       // the name does not fit the grammar
  wrong_depth,         // not exactly five folders above the file
  patient_mismatch,    // name's patient ID differs from the patient folder
  prefix_mismatch,     // level 1/2 folders are not pid[0:3]/pid[3:6] (tolerated, warned)
  date_mismatch,       // name's date differs from the date folder
  type_mismatch,       // name's data type differs from the data-type folder
};

[[nodiscard]] std::string_view problem_name(Ssmix2PathProblem problem);

struct Ssmix2PathCheck {
  std::optional<Ssmix2FileName> name;
  std::vector<Ssmix2PathProblem> problems;
  [[nodiscard]] bool clean() const noexcept { return name && problems.empty(); }
};

// Checks a path relative to the storage root, '/'-separated.
[[nodiscard]] Ssmix2PathCheck check_ssmix2_path(std::string_view relative_path);

}  // namespace medgw::collectors
