#pragma once
// Which kind a DPC survey file is (domain.md §2): by its name (FF1_, EFn_ ...
// <施設コード>_<YYMM>), or by the field count of its first record when the
// name does not say; and which column holds the データ識別番号.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::claims {

struct DpcKind {
  std::string_view prefix;  // in the file name
  std::string_view name;    // in the manifest meta
  std::size_t min_fields;
  std::size_t max_fields;   // 0: no upper bound (layout not verified)
  std::array<std::size_t, 2> date_columns;  // 1-based; 0 = none; their latest month is the file's month
  std::size_t id_column;                    // 1-based column of the データ識別番号
};

inline constexpr std::array<DpcKind, 6> dpc_kinds{{
    {"FF1", "ff1", 9, 17, {0, 0}, 2},             // 様式1: 8 key columns + payload 1..9
    {"FF4", "ff4", 5, 0, {0, 0}, 2},              // 様式4
    {"EFn", "ef_inpatient", 31, 31, {3, 24}, 2},  // EF統合 (入院): 退院年月日, 実施年月日
    {"EFg", "ef_outpatient", 31, 31, {3, 24}, 2}, // EF統合 (外来)
    {"Dn", "d", 30, 30, {3, 18}, 2},              // D file: 退院年月日, 実施年月日
    {"Hn", "h", 6, 0, {4, 6}, 3},                 // H file: 施設コード, 病棟コード, データ識別番号, ...
}};

struct DpcName {
  const DpcKind* kind = nullptr;
  std::string facility;  // 9 digits from the name, or empty
  std::string month;     // YYYYMM from the name (YYMM) or the folder, or empty
};

[[nodiscard]] DpcName parse_dpc_name(std::string_view path);

// By content, for a file whose name does not say: the field count of the
// first record (EF 31, D 30, 様式1 17, 様式4 5).
[[nodiscard]] const DpcKind* dpc_kind_from_record(const std::vector<std::string_view>& fields);

// The 1-based column of the データ識別番号 in the file at `path`, or 0 when
// its kind is unknown (then every field is searched).
[[nodiscard]] std::size_t dpc_id_column(std::string_view path);

// The last component of a relative path.
[[nodiscard]] std::string_view file_name_of(std::string_view path);
// The folder holding the file, when it is named like a month (YYYYMM); else empty.
[[nodiscard]] std::string month_folder_of(std::string_view path);
}  // namespace medgw::claims
