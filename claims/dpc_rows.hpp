#pragma once
// DPC survey files (tab-separated CP932 text, one record a line): the filter
// that leaves out the rows of some patients, by データ識別番号. Who is left
// out is the caller's (DpcJudge): the gateway's opt-out list and notice
// period, or the central's withdrawn patients.
#include <claims/line_filter.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace medgw::claims {

class DpcJudge {
 public:
  virtual ~DpcJudge() = default;
  // Nobody's rows are removed (a file of unknown kind is then not searched field by field).
  [[nodiscard]] virtual bool removes_nobody() const { return false; }
  // Whether the rows of this データ識別番号 are removed.
  [[nodiscard]] virtual bool removes(std::string_view dpc_id) = 0;
  // Whether a record that is not removed is held back; `dpc_id` is nullopt
  // when the file's kind names no ID column (empty when the field is).
  [[nodiscard]] virtual bool holds(std::optional<std::string_view> dpc_id) {
    (void)dpc_id;
    return false;
  }
};

// The input's byte ranges a DPC row filter left out, in order and merged
// where they touch: everything else it copied as it is, so the same input
// without them is its output again, with no line looked at (the second
// read of a large file, when its object is built). Past `limit` ranges it
// stops recording (`complete` false): the filter must then run again.
struct DroppedRanges {
  struct Range {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
  };
  std::vector<Range> ranges;
  std::size_t limit = 65536;
  bool complete = true;
  void add(std::uint64_t offset, std::uint64_t size);
};

// Removes each record whose データ識別番号 (1-based `id_column`) the judge
// removes; `id_column` 0 (a file of unknown kind) removes a record when any
// of its all-digit fields is one. A title row (its first column is not a
// 施設コード) and blank lines are never held. `judge` (and `dropped`, when
// given: what was left out is recorded there) must outlive the filter.
[[nodiscard]] std::unique_ptr<StreamFilter> make_dpc_row_filter(std::size_t id_column, DpcJudge& judge,
                                                               DroppedRanges* dropped = nullptr);

// Copies its input without `dropped`'s ranges (complete ones only): what the
// DPC row filter that recorded them made of the same input.
[[nodiscard]] std::unique_ptr<StreamFilter> make_dropped_ranges_filter(std::shared_ptr<const DroppedRanges> dropped);

}  // namespace medgw::claims
