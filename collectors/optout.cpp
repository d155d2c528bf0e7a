#include <collectors/optout.hpp>

#include <claims/receipts.hpp>
#include <claims/text_encoding.hpp>

#include <base/text.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <sstream>

namespace medgw::collectors {
namespace {

constexpr std::array<std::string_view, 5> known_columns{"patient_id", "dpc_id", "kana_name", "birth_date",
                                                        "requested_on"};

bool split_csv(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"' && base::trim_blanks(field).empty()) {
      quoted = true;
      was_quoted = true;
      field.clear();
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : std::string(base::trim_blanks(field)));
      field.clear();
      was_quoted = false;
    } else {
      field.push_back(c);
    }
  }
  if (quoted) return false;
  fields.push_back(was_quoted ? field : std::string(base::trim_blanks(field)));
  return true;
}

// YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD -> YYYYMMDD; empty when not a date.
std::string normalize_date(std::string_view text) {
  std::string compact;
  if (text.size() == 10 && (text[4] == '-' || text[4] == '/') && text[7] == text[4]) {
    compact = std::string(text.substr(0, 4)) + std::string(text.substr(5, 2)) + std::string(text.substr(8, 2));
  } else {
    compact = std::string(text);
  }
  if (compact.size() != 8 || !base::all_digits(compact)) return {};
  // A day that exists in that month (2026-02-31 is refused).
  const std::chrono::year_month_day date{std::chrono::year{std::stoi(compact.substr(0, 4))},
                                         std::chrono::month{static_cast<unsigned>(std::stoi(compact.substr(4, 2)))},
                                         std::chrono::day{static_cast<unsigned>(std::stoi(compact.substr(6, 2)))}};
  return date.ok() ? compact : std::string();
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7F && c != ','; });
}

}  // namespace

std::optional<std::string> csv_text(std::string_view bytes) {
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);  // a BOM from Excel
  if (base::is_valid_utf8(bytes)) return std::string(bytes);
  return claims::decode_cp932(bytes);
}

bool split_csv_line(std::string_view line, std::vector<std::string>& fields) { return split_csv(base::trim_blanks(line), fields); }

bool valid_patient_id(std::string_view id) { return valid_id(id); }

OptOutList OptOutList::parse(std::string_view bytes) {
  std::optional<std::string> decoded = csv_text(bytes);
  if (!decoded) throw OptOutError(1, "the file is neither UTF-8 nor CP932 (Shift_JIS); save it as UTF-8 or CP932 CSV");
  const std::string text = std::move(*decoded);

  OptOutList list;
  std::vector<std::string> fields;
  std::vector<int> column_of(known_columns.size(), -1);
  bool header_seen = false;
  std::size_t line_number = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    ++line_number;
    const std::string_view content = base::trim_blanks(line);
    if (content.empty() || content.starts_with('#')) continue;
    if (!split_csv(content, fields)) {
      throw OptOutError(line_number, "line " + std::to_string(line_number) + ": a quoted field is not closed");
    }
    if (!header_seen) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        std::string name = fields[i];
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        const auto known = std::find(known_columns.begin(), known_columns.end(), name);
        if (known == known_columns.end()) {
          throw OptOutError(line_number, "line " + std::to_string(line_number) + ": unknown column '" + name +
                                             "'; the header is patient_id,dpc_id,kana_name,birth_date,requested_on");
        }
        column_of[static_cast<std::size_t>(known - known_columns.begin())] = static_cast<int>(i);
      }
      if (column_of[0] < 0) {
        throw OptOutError(line_number, "line " + std::to_string(line_number) +
                                           ": the first line must be a header with a patient_id column "
                                           "(patient_id,dpc_id,kana_name,birth_date,requested_on)");
      }
      header_seen = true;
      continue;
    }
    auto column = [&](std::size_t which) -> std::string {
      const int at = column_of[which];
      return at >= 0 && static_cast<std::size_t>(at) < fields.size() ? fields[static_cast<std::size_t>(at)] : std::string();
    };
    const std::string where = "line " + std::to_string(line_number) + ": ";
    if (fields.size() > static_cast<std::size_t>(*std::max_element(column_of.begin(), column_of.end()) + 1)) {
      throw OptOutError(line_number, where + "more fields than the header names (a comma inside a value must be quoted)");
    }
    OptOutEntry entry;
    entry.line = line_number;
    entry.patient_id = column(0);
    entry.dpc_id = column(1);
    entry.kana_name = claims::normalize_kana(column(2));
    if (!valid_id(entry.patient_id)) {
      throw OptOutError(line_number, where + "patient_id is missing or has spaces or control characters");
    }
    if (!entry.dpc_id.empty() && !base::all_digits(entry.dpc_id)) {
      throw OptOutError(line_number, where + "dpc_id must be digits (the DPC データ識別番号) or empty");
    }
    if (const std::string birth = column(3); !birth.empty()) {
      entry.birth_date = normalize_date(birth);
      if (entry.birth_date.empty()) throw OptOutError(line_number, where + "birth_date must be a date YYYY-MM-DD");
    }
    if (const std::string requested = column(4); !requested.empty()) {
      entry.requested_on = normalize_date(requested);
      if (entry.requested_on.empty()) throw OptOutError(line_number, where + "requested_on must be a date YYYY-MM-DD");
    }
    if (!entry.kana_name.empty() && entry.birth_date.empty()) {
      throw OptOutError(line_number, where + "kana_name needs birth_date too (receipts are matched on both)");
    }
    list.entries_.push_back(std::move(entry));
  }
  if (!header_seen) {
    throw OptOutError(1, "line 1: the header patient_id,dpc_id,kana_name,birth_date,requested_on is missing");
  }
  list.index();
  return list;
}

OptOutList OptOutList::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw OptOutError(0, file.string() + ": cannot read the opt-out list (policy.optout_file)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  try {
    return parse(bytes.str());
  } catch (const OptOutError& error) {
    throw OptOutError(error.line(), file.string() + ":" + std::to_string(error.line()) + ": " +
                                        std::string(error.what()).substr(std::string(error.what()).find(": ") + 2));
  }
}

void OptOutList::index() {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const OptOutEntry& entry = entries_[i];
    by_patient_.emplace(entry.patient_id, i);
    by_dpc_.emplace(entry.dpc_id.empty() ? entry.patient_id : entry.dpc_id, i);
    if (!entry.kana_name.empty()) by_person_.emplace(entry.kana_name + "\x1f" + entry.birth_date, i);
  }
}

const OptOutEntry* OptOutList::by_patient(std::string_view patient_id) const {
  const auto found = by_patient_.find(patient_id);
  return found == by_patient_.end() ? nullptr : &entries_[found->second];
}

const OptOutEntry* OptOutList::by_dpc(std::string_view dpc_id) const {
  const auto found = by_dpc_.find(dpc_id);
  return found == by_dpc_.end() ? nullptr : &entries_[found->second];
}

const OptOutEntry* OptOutList::by_person(std::string_view kana_name, std::string_view birth_date) const {
  const auto found = by_person_.find(claims::normalize_kana(kana_name) + "\x1f" + std::string(birth_date));
  return found == by_person_.end() ? nullptr : &entries_[found->second];
}

}  // namespace medgw::collectors
