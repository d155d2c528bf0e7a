#pragma once
// A plain set of patients whose DPC rows and receipts go (the central's
// withdrawn patients), matched as the gateway's opt-out list matches them:
// DPC rows by データ識別番号 (the dpc_id, or the patient ID when none is
// given); receipts by カルテ番号, or by カタカナ氏名 + 生年月日 (so a receipt
// without カルテ番号, or with a mistyped one, still goes).
#include <claims/dpc_rows.hpp>
#include <claims/receipts.hpp>

#include <set>
#include <string>
#include <utility>

namespace medgw::claims {

struct PatientKeys {
  std::string patient_id;  // カルテ番号 / SS-MIX2 patient ID
  std::string dpc_id;      // DPC データ識別番号, when it differs
  std::string kana_name;   // カタカナ氏名 (UTF-8; spaces are ignored)
  std::string birth_date;  // YYYYMMDD
};

class PatientSet final : public DpcJudge, public ReceiptJudge {
 public:
  void add(const PatientKeys& patient);
  [[nodiscard]] bool empty() const noexcept { return charts_.empty() && dpc_ids_.empty() && people_.empty(); }

  [[nodiscard]] bool removes_nobody() const override { return dpc_ids_.empty(); }
  [[nodiscard]] bool removes(std::string_view dpc_id) override;
  [[nodiscard]] ReceiptVerdict judge(const ReceiptHead& head) override;

 private:
  std::set<std::string, std::less<>> charts_;
  std::set<std::string, std::less<>> dpc_ids_;
  std::set<std::pair<std::string, std::string>> people_;  // (normalized kana, birth date)
};

}  // namespace medgw::claims
