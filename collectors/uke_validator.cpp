#include <collectors/uke_validator.hpp>

#include <algorithm>
#include <charconv>

namespace medgw::collectors {
namespace {

std::string_view field_at(std::string_view line, std::size_t number) {
  std::size_t start = 0;
  for (std::size_t i = 1; i < number; ++i) {
    const auto next = line.find(',', start);
    if (next == std::string_view::npos) return {};
    start = next + 1;
  }
  const auto end = line.find(',', start);
  return line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Empty = 0 (可変 numeric fields drop leading zeros and may be empty).
std::optional<std::uint64_t> number_of(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return 0;
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string_view issue_name(UkeIssue issue) {
  switch (issue) {
    case UkeIssue::ir_not_first: return "ir_not_first";
    case UkeIssue::ir_repeated: return "ir_repeated";
    case UkeIssue::record_before_receipt: return "record_before_receipt";
    case UkeIssue::receipt_number_gap: return "receipt_number_gap";
    case UkeIssue::go_missing: return "go_missing";
    case UkeIssue::go_not_last: return "go_not_last";
    case UkeIssue::go_repeated: return "go_repeated";
    case UkeIssue::go_count_mismatch: return "go_count_mismatch";
    case UkeIssue::go_points_mismatch: return "go_points_mismatch";
    case UkeIssue::days_count_mismatch: return "days_count_mismatch";
    case UkeIssue::bad_number: return "bad_number";
    case UkeIssue::truncated_last_line: return "truncated_last_line";
    case UkeIssue::data_after_eof_marker: return "data_after_eof_marker";
    case UkeIssue::missing_eof_marker: return "missing_eof_marker";
    case UkeIssue::lf_line_endings: return "lf_line_endings";
    case UkeIssue::go_totals_blank: return "go_totals_blank";
  }
  return "unknown";
}

bool is_warning(UkeIssue issue) {
  return issue == UkeIssue::missing_eof_marker || issue == UkeIssue::lf_line_endings ||
         issue == UkeIssue::go_totals_blank;
}

bool UkeValidator::has_errors() const {
  return std::any_of(findings_.begin(), findings_.end(), [](const UkeFinding& f) { return !is_warning(f.issue); });
}

void UkeValidator::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (saw_eof_marker_) {
      // Anything but the marker itself after 0x1A is suspicious.
      if (bytes.find_first_not_of('\x1a') != std::string_view::npos) add(UkeIssue::data_after_eof_marker, 0);
      return;
    }
    const auto newline = bytes.find_first_of("\n\x1a");
    if (newline == std::string_view::npos) {
      pending_.append(bytes);
      return;
    }
    if (bytes[newline] == '\x1a') {
      pending_.append(bytes.substr(0, newline));
      saw_eof_marker_ = true;
      summary_.eof_marker = true;
      bytes.remove_prefix(newline + 1);
      continue;
    }
    pending_.append(bytes.substr(0, newline));
    bytes.remove_prefix(newline + 1);
    std::string_view line = pending_;
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    } else if (!reported_lf_) {
      reported_lf_ = true;
      add(UkeIssue::lf_line_endings, summary_.lines + 1);
    }
    record(line);
    pending_.clear();
  }
}

void UkeValidator::close_receipt() {
  if (!in_receipt_) return;
  if (receipt_ho_points_) {
    summary_.total_points += *receipt_ho_points_;
  } else if (receipt_first_ko_points_) {
    summary_.total_points += *receipt_first_ko_points_;
  }
  in_receipt_ = false;
  receipt_ho_points_.reset();
  receipt_first_ko_points_.reset();
}

void UkeValidator::record(std::string_view line) {
  const std::size_t number = ++summary_.lines;
  if (line.empty()) return;
  const std::string_view id = field_at(line, 1);
  if (saw_go_) {
    // Records after GO: one finding; their content is not judged further.
    if (!reported_after_go_) add(UkeIssue::go_not_last, number);
    reported_after_go_ = true;
    return;
  }
  if (id == "IR") {
    if (saw_ir_) add(UkeIssue::ir_repeated, number);
    else if (number != 1) add(UkeIssue::ir_not_first, number);
    saw_ir_ = true;
    summary_.facility = std::string(field_at(line, 3)) + std::string(field_at(line, 5));
    summary_.billing_month = std::string(field_at(line, 8));
    return;
  }
  if (!saw_ir_ && number == 1) add(UkeIssue::ir_not_first, number);
  if (id == "GO") {
    close_receipt();
    if (saw_go_) add(UkeIssue::go_repeated, number);
    saw_go_ = true;
    summary_.volume = std::string(field_at(line, 4));
    summary_.go_count = number_of(field_at(line, 2));
    summary_.go_points = number_of(field_at(line, 3));
    if (!summary_.go_count || !summary_.go_points) add(UkeIssue::bad_number, number);
    return;
  }
  if (id == "RE") {
    close_receipt();
    in_receipt_ = true;
    ++summary_.receipts;
    auto receipt_number = number_of(field_at(line, 2));
    if (!receipt_number || *receipt_number != summary_.receipts) add(UkeIssue::receipt_number_gap, number);
    return;
  }
  if (!in_receipt_) {
    add(UkeIssue::record_before_receipt, number);
    return;
  }
  if (id == "HO" || id == "KO") {
    ++summary_.insurance_records;
    auto points = number_of(field_at(line, 6));
    if (!points) {
      add(UkeIssue::bad_number, number);
      return;
    }
    if (id == "HO" && !receipt_ho_points_) receipt_ho_points_ = points;
    if (id == "KO" && !receipt_first_ko_points_) receipt_first_ko_points_ = points;
    return;
  }
  if (id == "SI" || id == "IY") {
    auto times = number_of(field_at(line, 7));
    std::uint64_t days_total = 0;
    bool any_day = false;
    for (std::size_t day = 14; day <= 44; ++day) {
      const std::string_view text = field_at(line, day);
      if (text.empty()) continue;
      any_day = true;
      auto count = number_of(text);
      if (!count) {
        add(UkeIssue::bad_number, number);
        return;
      }
      days_total += *count;
    }
    if (!times) add(UkeIssue::bad_number, number);
    else if (any_day && days_total != *times) add(UkeIssue::days_count_mismatch, number);
  }
}

void UkeValidator::finish() {
  if (!pending_.empty()) {
    // A last record without CR LF: the export was cut short.
    add(UkeIssue::truncated_last_line, summary_.lines + 1);
    std::string_view line = pending_;
    if (line.ends_with('\r')) line.remove_suffix(1);
    record(line);
    pending_.clear();
  }
  close_receipt();
  if (!saw_go_) {
    add(UkeIssue::go_missing, 0);
  } else if (summary_.volume == "99" && summary_.go_count && summary_.go_points) {
    if (*summary_.go_count == 0 && *summary_.go_points == 0 && summary_.receipts > 0) {
      add(UkeIssue::go_totals_blank, 0);
    } else {
      if (*summary_.go_count != summary_.insurance_records) add(UkeIssue::go_count_mismatch, 0);
      if (*summary_.go_points != summary_.total_points) add(UkeIssue::go_points_mismatch, 0);
    }
  }
  if (!saw_eof_marker_) add(UkeIssue::missing_eof_marker, 0);
}

UkeValidator validate_uke(std::string_view bytes) {
  UkeValidator validator;
  validator.feed(bytes);
  validator.finish();
  return validator;
}

}  // namespace medgw::collectors
