#include <collectors/claims_profiles.hpp>

#include <base/text.hpp>

#include <collectors/uke_validator.hpp>

#include <claims/dpc_files.hpp>
#include <claims/text_encoding.hpp>
#include <claims/text_split.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <vector>

namespace medgw::collectors {
namespace {

using base::all_digits;
using claims::DpcKind;
using claims::DpcName;
using claims::dpc_kind_from_record;
using claims::file_name_of;
using claims::month_folder_of;
using claims::parse_dpc_name;

bool all_zero(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

void write_anomalies(base::JsonWriter& json, AnomalySet anomalies) {
  bool problems = false;
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if ((anomalies & (AnomalySet{1} << i)) != 0 && !is_notice(static_cast<Anomaly>(i))) problems = true;
  }
  json.field("verdict", problems ? "flagged" : "ok");
  if (anomalies != 0) {
    json.key("anomalies").begin_array();
    for (std::string_view name : anomaly_names(anomalies)) json.value(name);
    json.end_array();
  }
}

// Splits a stream into lines (LF, with or without CR), holding only the
// current partial line between blocks.
class LineSplitter {
 public:
  template <class OnLine>
  void feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
      const auto newline = bytes.find('\n');
      if (newline == std::string_view::npos) {
        partial_.append(bytes);
        return;
      }
      std::string_view line = bytes.substr(0, newline);
      if (!partial_.empty()) {
        partial_.append(line);
        line = partial_;
      }
      const bool crlf = !line.empty() && line.back() == '\r';
      if (crlf) line.remove_suffix(1);
      on_line(line, crlf);
      partial_.clear();
      bytes.remove_prefix(newline + 1);
    }
  }
  // What followed the last line end (a line cut off), if anything.
  [[nodiscard]] const std::string& rest() const noexcept { return partial_; }

 private:
  std::string partial_;
};

// --- DPC ---------------------------------------------------------------------

void write_dpc_meta(base::JsonWriter& json, const DpcKind* kind, std::string_view facility, std::string_view month) {
  json.begin_object().field("kind", kind != nullptr ? kind->name : std::string_view("unknown"));
  if (!facility.empty()) json.field("facility", facility);
  if (!month.empty()) json.field("month", month);
}

class DpcCheck final : public ContentCheck {
 public:
  DpcCheck(const std::string& configured_facility, DpcName name)
      : configured_(configured_facility), name_(std::move(name)), kind_(name_.kind) {}

  void update(std::string_view bytes) override {
    splitter_.feed(bytes, [this](std::string_view line, bool crlf) { on_line(line, crlf); });
  }

  Analysis finish() override {
    if (!splitter_.rest().empty()) {
      anomalies_ |= bit(Anomaly::truncated_last_line);
      const std::string last = splitter_.rest();
      on_line(last, true);
    }
    if (kind_ == nullptr) anomalies_ |= bit(Anomaly::unknown_kind);
    if (!name_.facility.empty() && !all_zero(name_.facility) && !facility_.empty() && !all_zero(facility_) &&
        name_.facility != facility_) {
      anomalies_ |= bit(Anomaly::facility_mismatch);
    }
    if (kind_ != nullptr && kind_->date_columns[0] != 0 && !name_.month.empty() && !latest_month_.empty() &&
        latest_month_ != name_.month) {
      anomalies_ |= bit(Anomaly::month_mismatch);
    }
    Analysis analysis;
    analysis.anomalies = anomalies_;
    base::JsonWriter json;
    write_dpc_meta(json, kind_, facility_.empty() ? std::string_view(name_.facility) : std::string_view(facility_),
                   name_.month);
    json.field("records", records_).field("header", header_);
    write_anomalies(json, anomalies_);
    json.end_object();
    analysis.meta_json = json.take();
    return analysis;
  }

 private:
  void on_line(std::string_view line, bool crlf) {
    if (!crlf) anomalies_ |= bit(Anomaly::lf_line_endings);
    if (line.empty()) return;
    if ((anomalies_ & bit(Anomaly::encoding_invalid)) == 0 && !claims::is_valid_cp932(line)) {
      anomalies_ |= bit(Anomaly::encoding_invalid);
    }
    // Tab never occurs inside a CP932 character (trail bytes are >= 0x40).
    claims::split_into(line, '\t', fields_);
    const std::vector<std::string_view>& fields = fields_;
    if (records_ == 0 && !header_ && !all_digits(fields[0])) {
      header_ = true;  // a title row: its first column is not a 施設コード
      return;
    }
    ++records_;
    if (kind_ == nullptr && records_ == 1) kind_ = dpc_kind_from_record(fields);
    if (kind_ != nullptr &&
        (fields.size() < kind_->min_fields || (kind_->max_fields != 0 && fields.size() > kind_->max_fields))) {
      anomalies_ |= bit(Anomaly::field_count);
    }
    const std::string_view facility = fields[0];
    if (facility_.empty()) {
      facility_ = facility;
      if (!configured_.empty() && !all_zero(facility) && facility != configured_) anomalies_ |= bit(Anomaly::facility_mismatch);
    } else if (facility != facility_) {
      anomalies_ |= bit(Anomaly::facility_mismatch);
    }
    if (kind_ != nullptr) {
      for (std::size_t column : kind_->date_columns) {
        if (column == 0 || column > fields.size()) continue;
        const std::string_view date = fields[column - 1];
        if (date.size() != 8 || !all_digits(date) || all_zero(date)) continue;
        if (const std::string_view month = date.substr(0, 6); month > latest_month_) latest_month_ = month;
      }
    }
  }

  const std::string& configured_;
  DpcName name_;
  const DpcKind* kind_;
  LineSplitter splitter_;
  std::vector<std::string_view> fields_;  // of the current line (storage reused)
  AnomalySet anomalies_ = 0;
  std::uint64_t records_ = 0;
  bool header_ = false;
  std::string facility_;
  std::string latest_month_;
};

// --- UKE -----------------------------------------------------------------------

std::string_view receipt_kind(std::string_view path) {
  const std::string name = upper(file_name_of(path));
  if (name == "RECEIPTC.UKE") return "receipt_medical";   // 医科 (and DPC, same name)
  if (name == "RECEIPTY.UKE") return "receipt_pharmacy";  // 調剤
  if (name.ends_with(".UKE")) return "receipt_other";
  return "unknown";
}

// nullopt: not a problem of the file (totals left blank for the 審査支払機関 to fill).
std::optional<Anomaly> anomaly_of(UkeIssue issue) {
  switch (issue) {
    case UkeIssue::receipt_number_gap: return Anomaly::uke_receipt_gap;
    case UkeIssue::go_missing: return Anomaly::uke_go_missing;
    case UkeIssue::go_count_mismatch:
    case UkeIssue::go_points_mismatch: return Anomaly::uke_go_totals;
    case UkeIssue::days_count_mismatch: return Anomaly::uke_days_count;
    case UkeIssue::truncated_last_line: return Anomaly::truncated_last_line;
    case UkeIssue::missing_eof_marker: return Anomaly::uke_eof_marker_missing;
    case UkeIssue::lf_line_endings: return Anomaly::lf_line_endings;
    case UkeIssue::go_totals_blank: return std::nullopt;
    case UkeIssue::ir_not_first:
    case UkeIssue::ir_repeated:
    case UkeIssue::record_before_receipt:
    case UkeIssue::go_not_last:
    case UkeIssue::go_repeated:
    case UkeIssue::bad_number:
    case UkeIssue::data_after_eof_marker: break;
  }
  return Anomaly::uke_structure;
}

class ReceiptCheck final : public ContentCheck {
 public:
  ReceiptCheck(const std::string& configured_facility, std::string_view path)
      : configured_(configured_facility), kind_(receipt_kind(path)), folder_month_(month_folder_of(path)) {}

  void update(std::string_view bytes) override {
    if (validating()) validator_.feed(bytes);
  }

  Analysis finish() override {
    Analysis analysis;
    base::JsonWriter json;
    json.begin_object().field("kind", kind_);
    if (!validating()) {
      analysis.anomalies = bit(Anomaly::unknown_kind);
    } else {
      validator_.finish();
      for (const UkeFinding& finding : validator_.findings()) {
        if (auto anomaly = anomaly_of(finding.issue)) analysis.anomalies |= bit(*anomaly);
      }
      const UkeSummary& summary = validator_.summary();
      if (!configured_.empty() && !summary.facility.empty() && summary.facility != configured_) {
        analysis.anomalies |= bit(Anomaly::facility_mismatch);
      }
      if (!folder_month_.empty() && summary.billing_month.size() == 6 && summary.billing_month != folder_month_) {
        analysis.anomalies |= bit(Anomaly::month_mismatch);
      }
      json.field("facility", summary.facility).field("billing_month", summary.billing_month);
      if (!summary.volume.empty()) json.field("volume", summary.volume);
      json.field("receipts", static_cast<std::uint64_t>(summary.receipts));
      json.field("insurance_records", static_cast<std::uint64_t>(summary.insurance_records));
      json.field("total_points", summary.total_points);
      if (summary.go_count) json.field("go_count", *summary.go_count);
      if (summary.go_points) json.field("go_points", *summary.go_points);
      json.field("eof_marker", summary.eof_marker);
    }
    write_anomalies(json, analysis.anomalies);
    json.end_object();
    analysis.meta_json = json.take();
    return analysis;
  }

 private:
  [[nodiscard]] bool validating() const { return kind_ != "unknown"; }

  const std::string& configured_;
  std::string_view kind_;
  std::string folder_month_;
  UkeValidator validator_;
};

}  // namespace

Exclusion DpcProfile::exclusion(std::string_view relative_path, const PatientPolicy& policy) const {
  const DpcName name = parse_dpc_name(relative_path);
  return !name.month.empty() && policy.before_since(name.month) ? Exclusion::before_since : Exclusion::none;
}

std::unique_ptr<OptOutFilter> DpcProfile::optout_filter(std::string_view relative_path,
                                                        std::shared_ptr<const PatientPolicy> policy) const {
  if (!policy->filters_rows()) return nullptr;
  const DpcName name = parse_dpc_name(relative_path);
  return make_dpc_filter(std::move(policy), name.kind != nullptr ? name.kind->id_column : 0, name.month);
}

Exclusion ReceiptProfile::exclusion(std::string_view relative_path, const PatientPolicy& policy) const {
  const std::string month = month_folder_of(relative_path);
  return !month.empty() && policy.before_since(month) ? Exclusion::before_since : Exclusion::none;
}

std::unique_ptr<OptOutFilter> ReceiptProfile::optout_filter(std::string_view relative_path,
                                                            std::shared_ptr<const PatientPolicy> policy) const {
  (void)relative_path;
  if (!policy->filters_rows()) return nullptr;
  return make_uke_filter(std::move(policy));
}

std::unique_ptr<OptOutFilter> DpcProfile::late_rows_filter(std::string_view relative_path,
                                                           std::shared_ptr<const PatientPolicy> policy,
                                                           OnlyPatients only) const {
  const DpcName name = parse_dpc_name(relative_path);
  return make_dpc_filter(std::move(policy), name.kind != nullptr ? name.kind->id_column : 0, name.month, std::move(only));
}

std::unique_ptr<OptOutFilter> ReceiptProfile::late_rows_filter(std::string_view relative_path,
                                                               std::shared_ptr<const PatientPolicy> policy,
                                                               OnlyPatients only) const {
  (void)relative_path;
  return make_uke_filter(std::move(policy), std::move(only));
}

std::unique_ptr<ContentCheck> DpcProfile::stream_check(std::string_view relative_path) const {
  return std::make_unique<DpcCheck>(facility_code_, parse_dpc_name(relative_path));
}

Analysis DpcProfile::analyze_path(std::string_view relative_path) const {
  const DpcName name = parse_dpc_name(relative_path);
  base::JsonWriter json;
  write_dpc_meta(json, name.kind, name.facility, name.month);
  json.end_object();
  return Analysis{json.take(), 0, {}, {}};
}

std::unique_ptr<ContentCheck> ReceiptProfile::stream_check(std::string_view relative_path) const {
  return std::make_unique<ReceiptCheck>(facility_code_, relative_path);
}

Analysis ReceiptProfile::analyze_path(std::string_view relative_path) const {
  base::JsonWriter json;
  json.begin_object().field("kind", receipt_kind(relative_path));
  if (std::string month = month_folder_of(relative_path); !month.empty()) json.field("folder_month", month);
  json.end_object();
  return Analysis{json.take(), 0, {}, {}};
}

}  // namespace medgw::collectors
