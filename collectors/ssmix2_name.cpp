#include <collectors/ssmix2_name.hpp>

#include <array>

namespace medgw::collectors {
namespace {

bool digits_only(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool valid_data_type(std::string_view type) {
  if (type.size() != 3 && type.size() != 6) return false;
  for (std::size_t i = 0; i < 3; ++i) {
    if (type[i] < 'A' || type[i] > 'Z') return false;
  }
  return type.size() == 3 || (type[3] == '-' && digits_only(type.substr(4)));
}

}  // namespace

std::string Ssmix2FileName::logical_key() const {
  return patient_id + '\x1f' + care_date + '\x1f' + data_type + '\x1f' + order_no;
}

std::string Ssmix2FileName::format() const {
  return patient_id + "_" + care_date + "_" + data_type + "_" + order_no + "_" + timestamp + "_" + department +
         "_" + std::string(1, condition_flag);
}

std::optional<Ssmix2FileName> parse_ssmix2_file_name(std::string_view name) {
  std::array<std::string_view, 7> fields;
  std::size_t count = 0;
  std::size_t start = 0;
  while (true) {
    const auto end = name.find('_', start);
    if (count == fields.size()) return std::nullopt;
    fields[count++] = name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (count != fields.size()) return std::nullopt;
  const auto& [patient, date, type, order, timestamp, department, flag] = fields;
  if (patient.empty() || department.empty()) return std::nullopt;
  if (!(date == "-" || (date.size() == 8 && digits_only(date)))) return std::nullopt;
  if (!valid_data_type(type)) return std::nullopt;
  if (order.empty() || order.size() > 15 || !digits_only(order)) return std::nullopt;
  if (timestamp.size() < 14 || timestamp.size() > 17 || !digits_only(timestamp)) return std::nullopt;
  if (flag.size() != 1 || (flag[0] != '0' && flag[0] != '1' && flag[0] != '2')) return std::nullopt;
  return Ssmix2FileName{std::string(patient), std::string(date), std::string(type), std::string(order),
                        std::string(timestamp), std::string(department), flag[0]};
}

std::string_view problem_name(Ssmix2PathProblem problem) {
  switch (problem) {
    case Ssmix2PathProblem::bad_file_name: return "bad_file_name";
    case Ssmix2PathProblem::wrong_depth: return "wrong_depth";
    case Ssmix2PathProblem::patient_mismatch: return "patient_folder_mismatch";
    case Ssmix2PathProblem::prefix_mismatch: return "prefix_folder_mismatch";
    case Ssmix2PathProblem::date_mismatch: return "date_folder_mismatch";
    case Ssmix2PathProblem::type_mismatch: return "type_folder_mismatch";
  }
  return "unknown";
}

Ssmix2PathCheck check_ssmix2_path(std::string_view relative_path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= relative_path.size()) {
    const auto end = relative_path.find('/', start);
    const auto part = relative_path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!part.empty()) parts.push_back(part);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  Ssmix2PathCheck check;
  if (parts.empty()) {
    check.problems.push_back(Ssmix2PathProblem::bad_file_name);
    return check;
  }
  check.name = parse_ssmix2_file_name(parts.back());
  if (!check.name) check.problems.push_back(Ssmix2PathProblem::bad_file_name);
  if (parts.size() != 6) {
    check.problems.push_back(Ssmix2PathProblem::wrong_depth);
    return check;
  }
  if (!check.name) return check;
  const Ssmix2FileName& name = *check.name;
  const std::string_view pid = name.patient_id;
  if (parts[2] != pid) check.problems.push_back(Ssmix2PathProblem::patient_mismatch);
  // Short IDs have no agreed folder rule (domain.md §1.2): compare what exists.
  const std::string_view level1 = pid.substr(0, 3);
  const std::string_view level2 = pid.size() > 3 ? pid.substr(3, 3) : std::string_view();
  if (parts[0] != level1 || parts[1] != level2) check.problems.push_back(Ssmix2PathProblem::prefix_mismatch);
  if (parts[3] != name.care_date) check.problems.push_back(Ssmix2PathProblem::date_mismatch);
  if (parts[4] != name.data_type) check.problems.push_back(Ssmix2PathProblem::type_mismatch);
  return check;
}

}  // namespace medgw::collectors
