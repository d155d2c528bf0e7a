#pragma once
// DPC survey files (tab-separated CP932 text, one record a line): the filter
// that leaves out the rows of some patients, by データ識別番号. Who is left
// out is the caller's (DpcJudge): the gateway's opt-out list and notice
// period, or the central's withdrawn patients.
#include <claims/line_filter.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

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

// Removes each record whose データ識別番号 (1-based `id_column`) the judge
// removes; `id_column` 0 (a file of unknown kind) removes a record when any
// of its all-digit fields is one. A title row (its first column is not a
// 施設コード) and blank lines are never held. `judge` must outlive the filter.
[[nodiscard]] std::unique_ptr<StreamFilter> make_dpc_row_filter(std::size_t id_column, DpcJudge& judge);

}  // namespace medgw::claims
