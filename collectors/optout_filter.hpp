#pragma once
// The opt-out filters of the DPC and UKE sources: the copy of a file that is
// spooled leaves out every record of a patient on the opt-out list
// (次世代医療基盤法). They stream line by line, so a file of any size passes
// through in constant memory, and copy every other byte as it is: with no
// opted-out patient in a file, its copy is the file. The line and record
// logic is claims/ (dpc_rows.hpp, receipts.hpp), which medgw-receiver uses
// too when a withdrawal erases a patient; here is only who is left out and
// why (the opt-out list, the notice period, a "late rows" copy).
#include <collectors/policy.hpp>

#include <spool/object.hpp>

#include <claims/dpc_rows.hpp>

#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace medgw::collectors {

// What a filter did to one file (counts only; never which patient).
struct FilterResult {
  std::uint64_t rows_removed = 0;      // DPC rows
  std::uint64_t receipts_removed = 0;  // UKE receipts (RE up to the next RE)
  std::uint64_t unidentified = 0;      // receipts with no カルテ番号 that could not be matched
  bool hold = false;                   // keep the whole file back (policy.unidentified: hold)
  std::string hold_reason;             // why, for the log (empty: receipts without カルテ番号)
  // The manifest meta of the copy sent, when the filter knows it better than
  // the check of the whole file did (FHIR: the resources kept); empty: the
  // check's meta stands.
  std::string meta_json;
  // DPC rows / UKE receipts left out because their patient's notice period
  // has not passed (or, with policy.notice, a receipt names no patient).
  std::uint64_t notice_held = 0;
  // Whose rows those were (DPC データ識別番号 / カルテ番号), to send them once
  // eligible ("late rows"); rows naming no patient are not listed.
  std::set<std::string, std::less<>> notice_held_ids;
  // DPC: the rows left out, as byte ranges of the file (nullptr for UKE).
  std::shared_ptr<const claims::DroppedRanges> dropped_rows;
  [[nodiscard]] bool changed() const noexcept { return rows_removed != 0 || receipts_removed != 0 || notice_held != 0; }
};

class OptOutFilter : public spool::ContentFilter {
 public:
  [[nodiscard]] virtual const FilterResult& result() const noexcept = 0;
};

// DPC: drops each record whose データ識別番号 (1-based `id_column`) is
// opted out; `id_column` 0 (a file of unknown kind) drops a record when any
// of its fields is an opted-out データ識別番号. A title row is kept. With
// policy.notice, also each record of a patient whose notice period has not
// passed (the file's `month`, YYYYMM, counts as an encounter on its last
// day; a file of unknown kind keeps no record: its patient is unknown).
// The patients of a "late rows" copy: only their rows are kept.
using OnlyPatients = std::shared_ptr<const std::set<std::string, std::less<>>>;

[[nodiscard]] std::unique_ptr<OptOutFilter> make_dpc_filter(std::shared_ptr<const PatientPolicy> policy,
                                                            std::size_t id_column, std::string month = {},
                                                            OnlyPatients only = nullptr);

// What a DPC filter made of a file, again, from the rows it left out (a
// complete FilterResult::dropped_rows): for the file's second read (where
// its first could not keep a compressed copy), no row is looked at.
[[nodiscard]] std::unique_ptr<spool::ContentFilter> make_dropped_rows_filter(
    std::shared_ptr<const claims::DroppedRanges> dropped_rows);

// UKE: drops the receipts (RE up to the next RE or GO) of opted-out
// patients, by カルテ番号 (RE field 14) or by カタカナ氏名 + 生年月日; renumbers
// the RE レセプト番号 1..n and, in a single-volume file whose GO carries
// totals, recomputes GO 総件数 and 総合計点数 (domain.md §3.4) from the
// receipts kept.
// With `only`: the "late rows" copy, holding only the receipts of those
// patients (renumbered, GO recomputed) and nothing else of the file's.
[[nodiscard]] std::unique_ptr<OptOutFilter> make_uke_filter(std::shared_ptr<const PatientPolicy> policy,
                                                            OnlyPatients only = nullptr);

}  // namespace medgw::collectors
