#pragma once
// レセプト電算 (UKE) files (domain.md §3): the filter that leaves out whole
// receipts (RE up to the next RE or GO) of some patients, renumbers the RE
// レセプト番号 1..n and, in a single-volume file whose GO carries totals,
// recomputes GO 総件数 and 総合計点数 (§3.4) from the receipts kept. Who is
// left out is the caller's (ReceiptJudge).
#include <claims/line_filter.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::claims {

// What an RE record says of its patient, as the judge needs it.
class ReceiptHead {
 public:
  explicit ReceiptHead(std::string_view content);
  // カルテ番号等 (RE 14): the hospital's patient ID; may be empty.
  [[nodiscard]] std::string_view chart() const noexcept { return field(14); }
  // 診療年月 (RE 4) as written (西暦 YYYYMM or 和暦 GYYMM).
  [[nodiscard]] std::string_view month() const noexcept { return field(4); }
  // カタカナ氏名 (RE 37) decoded from CP932 and normalize_kana'd; empty when absent or undecodable.
  [[nodiscard]] std::string kana() const;
  // 生年月日 (RE 7) as YYYYMMDD; empty when it is neither 西暦 nor 和暦.
  [[nodiscard]] std::string birth_date() const;

 private:
  [[nodiscard]] std::string_view field(std::size_t number) const noexcept {
    return number <= fields_.size() ? fields_[number - 1] : std::string_view();
  }
  std::vector<std::string_view> fields_;
};

enum class ReceiptVerdict { keep, remove, hold };

class ReceiptJudge {
 public:
  virtual ~ReceiptJudge() = default;
  [[nodiscard]] virtual ReceiptVerdict judge(const ReceiptHead& head) = 0;
};

// `judge` must outlive the filter.
[[nodiscard]] std::unique_ptr<StreamFilter> make_receipt_filter(ReceiptJudge& judge);

// 生年月日 as written in a receipt (西暦 YYYYMMDD or 和暦 GYYMMDD) as YYYYMMDD;
// empty when it is neither.
[[nodiscard]] std::string receipt_birth_date(std::string_view field);
// A katakana name as compared: UTF-8 without ASCII or ideographic spaces.
[[nodiscard]] std::string normalize_kana(std::string_view utf8);

}  // namespace medgw::claims
