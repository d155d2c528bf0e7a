#include <collectors/optout_filter.hpp>
#include <collectors/text_encoding.hpp>
#include <collectors/text_split.hpp>

#include <algorithm>
#include <array>
#include <charconv>

namespace medgw::collectors {
namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits a stream into lines that keep their terminator, so what is kept is
// copied byte for byte; a last piece without a line end (a 0x1A, or a line
// cut off) comes out at finish().
class LineFilter : public OptOutFilter {
 public:
  void feed(std::string_view bytes, std::string& out) final {
    while (!bytes.empty()) {
      const auto newline = bytes.find('\n');
      if (newline == std::string_view::npos) {
        partial_.append(bytes);
        return;
      }
      std::string_view line = bytes.substr(0, newline + 1);
      if (!partial_.empty()) {
        partial_.append(line);
        line = partial_;
      }
      on_line(line, out);
      partial_.clear();
      bytes.remove_prefix(newline + 1);
    }
  }
  void finish(std::string& out) final {
    if (!partial_.empty()) {
      const std::string last = std::move(partial_);
      partial_.clear();
      on_line(last, out);
    }
    on_end(out);
  }
  [[nodiscard]] const FilterResult& result() const noexcept final { return result_; }

 protected:
  // `line` ends with its "\n" (or "\r\n"), except a last piece.
  virtual void on_line(std::string_view line, std::string& out) = 0;
  virtual void on_end(std::string& out) { (void)out; }
  static std::string_view content_of(std::string_view line) {
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
  }
  FilterResult result_;

 private:
  std::string partial_;
};

// --- DPC -----------------------------------------------------------------------

class DpcFilter final : public LineFilter {
 public:
  DpcFilter(std::shared_ptr<const PatientPolicy> policy, std::size_t id_column, std::string month, OnlyPatients only)
      : policy_(std::move(policy)),
        id_column_(id_column),
        month_(std::move(month)),
        encounter_(month_end(month_)),
        only_(std::move(only)) {}

 private:
  void on_line(std::string_view line, std::string& out) override {
    const std::string_view content = content_of(line);
    if (opted_out(content)) {
      ++result_.rows_removed;
      return;
    }
    if (only_ && !title_or_empty(content) && (id_column_ == 0 || !only_->contains(id_of(content)))) {
      ++result_.notice_held;
      return;
    }
    if (!only_ && policy_->notice && !title_or_empty(content) && notice_pending(content)) {
      ++result_.notice_held;
      return;
    }
    out.append(line);
  }

  // The title row (its first column is not a 施設コード) and blank lines go as they are.
  static bool title_or_empty(std::string_view content) {
    const std::string_view first = content.substr(0, content.find('\t'));
    return content.empty() || !all_digits(first);
  }

  [[nodiscard]] std::string_view id_of(std::string_view content) const {
    // Only the ID column: tab never occurs inside a CP932 character.
    std::size_t start = 0;
    for (std::size_t column = 1; column < id_column_; ++column) {
      const auto tab = content.find('\t', start);
      if (tab == std::string_view::npos) return {};
      start = tab + 1;
    }
    const auto end = content.find('\t', start);
    return content.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  }

  [[nodiscard]] bool opted_out(std::string_view content) const {
    const OptOutList& list = *policy_->optout;
    if (list.empty()) return false;
    if (id_column_ == 0) {
      for (std::string_view field : split_on(content, '\t')) {
        if (all_digits(field) && list.by_dpc(field) != nullptr) return true;
      }
      return false;
    }
    const std::string_view id = id_of(content);
    return !id.empty() && list.by_dpc(id) != nullptr;
  }

  // Eligibility is by the データ識別番号 as an ID of its own: the rows of a
  // DPC number count as its encounters (where the hospital's DPC numbers are
  // its patient IDs, the SS-MIX2 encounters and the register count too).
  [[nodiscard]] bool notice_pending(std::string_view content) {
    if (id_column_ == 0) return true;
    const std::string_view id = id_of(content);
    if (id.empty()) return true;
    if (!encounter_.empty()) policy_->notice->record(Encounter{std::string(id), encounter_, "dpc " + month_});
    if (!policy_->notice_pending(id, encounter_)) return false;
    result_.notice_held_ids.emplace(id);
    return true;
  }

  std::shared_ptr<const PatientPolicy> policy_;
  std::size_t id_column_;
  std::string month_;
  std::string encounter_;
  OnlyPatients only_;
};

// --- UKE -----------------------------------------------------------------------

std::uint64_t number_of(std::string_view field) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  return error == std::errc() && end == field.data() + field.size() ? value : 0;
}

class UkeFilter final : public LineFilter {
 public:
  UkeFilter(std::shared_ptr<const PatientPolicy> policy, OnlyPatients only)
      : policy_(std::move(policy)), only_(std::move(only)) {}

 private:
  void on_line(std::string_view line, std::string& out) override {
    const std::string_view content = content_of(line);
    const std::string_view record = content.substr(0, content.find(','));
    if (record == "RE") {
      end_receipt();
      in_receipt_ = true;
      dropping_ = drop_receipt(content);
      if (dropping_) {
        ++result_.receipts_removed;
        return;
      }
      dropping_ = only_ ? !only_->contains(chart_of(content)) : policy_->notice && notice_pending(content);
      if (dropping_) {
        ++result_.notice_held;
        return;
      }
      ++kept_;
      // Until a receipt is left out, the file goes exactly as it is (even with
      // numbering the validator flags); after that, RE,<number>,... becomes
      // the receipt's place among those kept.
      if (!any_dropped()) {
        out.append(line);
        return;
      }
      const auto first = content.find(',');
      const auto second = content.find(',', first + 1);
      out.append("RE,").append(std::to_string(kept_));
      out.append(second == std::string_view::npos ? std::string_view() : line.substr(second));
      if (second == std::string_view::npos) out.append(line.substr(content.size()));
      return;
    }
    if (record == "GO" || record == "IR") {
      end_receipt();
      in_receipt_ = false;
      dropping_ = false;
      if (record == "GO") {
        write_go(content, line.substr(content.size()), out);
        return;
      }
    }
    if (dropping_) return;
    if (in_receipt_ && (record == "HO" || record == "KO")) {
      ++receipt_insurance_records_;
      const auto fields = split_on(content, ',');
      const std::uint64_t points = fields.size() > 5 ? number_of(fields[5]) : 0;
      if (record == "HO" && !receipt_has_ho_) {
        receipt_has_ho_ = true;
        receipt_points_ = points;
      } else if (record == "KO" && !receipt_has_ho_ && !receipt_has_ko_) {
        receipt_points_ = points;
      }
      if (record == "KO") receipt_has_ko_ = true;
    }
    out.append(line);
  }

  void end_receipt() {
    if (in_receipt_ && !dropping_) {
      kept_insurance_records_ += receipt_insurance_records_;
      kept_points_ += receipt_points_;
    }
    receipt_insurance_records_ = 0;
    receipt_points_ = 0;
    receipt_has_ho_ = false;
    receipt_has_ko_ = false;
  }

  // GO,総件数,総合計点数,マルチボリューム識別情報: recomputed only when receipts
  // were removed, the file is one volume ("99") and the totals were filled
  // in (files regenerated by the 審査支払機関 may leave them 0 or blank).
  void write_go(std::string_view content, std::string_view terminator, std::string& out) const {
    const auto fields = split_on(content, ',');
    const bool single_volume = fields.size() < 4 || fields[3] == "99";
    const bool filled = fields.size() >= 3 && number_of(fields[1]) != 0 && number_of(fields[2]) != 0;
    if (!any_dropped() || !single_volume || !filled) {
      out.append(content).append(terminator);
      return;
    }
    out.append("GO,").append(std::to_string(kept_insurance_records_)).append(",").append(std::to_string(kept_points_));
    for (std::size_t i = 3; i < fields.size(); ++i) out.append(",").append(fields[i]);
    out.append(terminator);
  }

  [[nodiscard]] bool any_dropped() const noexcept { return result_.receipts_removed != 0 || result_.notice_held != 0; }

  // A receipt names its patient by カルテ番号 (RE 14) and shows an encounter
  // in its 診療年月 (RE 4, 西暦 YYYYMM or 和暦 GYYMM); without a カルテ番号
  // there is no patient to check, and the receipt waits.
  static std::string_view chart_of(std::string_view content) {
    const auto fields = split_on(content, ',');
    return fields.size() >= 14 ? fields[13] : std::string_view();
  }

  [[nodiscard]] bool notice_pending(std::string_view content) {
    const auto fields = split_on(content, ',');
    const std::string_view chart = fields.size() >= 14 ? fields[13] : std::string_view();
    if (chart.empty()) return true;
    std::string month = fields.size() >= 4 ? std::string(fields[3]) : std::string();
    if (month.size() == 5) month = receipt_birth_date(month + "01").substr(0, 6);  // 和暦 GYYMM
    const std::string encounter = month_end(month);
    if (!encounter.empty()) policy_->notice->record(Encounter{std::string(chart), encounter, "receipt " + month});
    if (!policy_->notice_pending(chart, encounter)) return false;
    result_.notice_held_ids.emplace(chart);
    return true;
  }

  [[nodiscard]] bool drop_receipt(std::string_view content) {
    const auto fields = split_on(content, ',');
    auto field = [&](std::size_t number) { return number <= fields.size() ? fields[number - 1] : std::string_view(); };
    const OptOutList& list = *policy_->optout;
    if (list.empty()) return false;
    const std::string_view chart = field(14);  // カルテ番号等
    if (!chart.empty() && list.by_patient(chart) != nullptr) return true;
    // By name and birth date too, even when the chart number is there: a
    // listed person is never sent because the chart number was mistyped.
    std::string kana;
    if (auto decoded = decode_cp932(field(37))) kana = normalize_kana(*decoded);
    const std::string birth = receipt_birth_date(field(7));
    if (!kana.empty() && !birth.empty() && list.by_person(kana, birth) != nullptr) return true;
    if (!chart.empty()) return false;
    // No chart number: only a match by person can clear the receipt, and only
    // when every listed patient can be matched that way.
    if (kana.empty() || birth.empty() || !policy_->all_matchable_by_person()) {
      ++result_.unidentified;
      if (policy_->hold_unidentified) result_.hold = true;
    }
    return false;
  }

  std::shared_ptr<const PatientPolicy> policy_;
  OnlyPatients only_;
  bool in_receipt_ = false;
  bool dropping_ = false;
  std::uint64_t kept_ = 0;
  std::uint64_t receipt_insurance_records_ = 0;
  std::uint64_t receipt_points_ = 0;
  bool receipt_has_ho_ = false;
  bool receipt_has_ko_ = false;
  std::uint64_t kept_insurance_records_ = 0;
  std::uint64_t kept_points_ = 0;
};

}  // namespace

std::string receipt_birth_date(std::string_view field) {
  if (field.size() == 8 && all_digits(field)) return std::string(field);
  if (field.size() == 7 && all_digits(field)) {
    // 和暦: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和 (first years 1868, 1912, 1926, 1989, 2019).
    constexpr std::array<int, 5> era_start{1868, 1912, 1926, 1989, 2019};
    const int era = field[0] - '0';
    if (era < 1 || era > 5) return {};
    const int year = era_start[static_cast<std::size_t>(era - 1)] + (field[1] - '0') * 10 + (field[2] - '0') - 1;
    return std::to_string(year) + std::string(field.substr(3));
  }
  return {};
}

std::unique_ptr<OptOutFilter> make_dpc_filter(std::shared_ptr<const PatientPolicy> policy, std::size_t id_column,
                                              std::string month, OnlyPatients only) {
  return std::make_unique<DpcFilter>(std::move(policy), id_column, std::move(month), std::move(only));
}

std::unique_ptr<OptOutFilter> make_uke_filter(std::shared_ptr<const PatientPolicy> policy, OnlyPatients only) {
  return std::make_unique<UkeFilter>(std::move(policy), std::move(only));
}

}  // namespace medgw::collectors
