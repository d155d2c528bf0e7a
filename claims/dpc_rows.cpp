#include <claims/dpc_rows.hpp>

#include <base/text.hpp>

#include <claims/dpc_files.hpp>
#include <claims/text_split.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace medgw::claims {
namespace {

class DpcRowFilter final : public LineFilter {
 public:
  DpcRowFilter(std::size_t id_column, DpcJudge& judge, DroppedRanges* dropped)
      : id_column_(id_column), judge_(judge), dropped_(dropped) {}

 private:
  void on_line(std::string_view line, std::string& out) override {
    const std::string_view content = content_of(line);
    if (removed(content)) {
      ++counts_.removed;
      return drop(line);
    }
    if (!title_or_empty(content) &&
        judge_.holds(id_column_ == 0 ? std::nullopt : std::optional<std::string_view>(id_of(content)))) {
      ++counts_.held;
      return drop(line);
    }
    out.append(line);
  }

  void drop(std::string_view line) {
    if (dropped_ != nullptr) dropped_->add(line_offset(), line.size());
  }

  static bool title_or_empty(std::string_view content) {
    const std::string_view first = content.substr(0, content.find('\t'));
    return content.empty() || !base::all_digits(first);
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

  [[nodiscard]] bool removed(std::string_view content) {
    if (judge_.removes_nobody()) return false;
    if (id_column_ == 0) {
      for (std::string_view field : split_on(content, '\t')) {
        if (base::all_digits(field) && judge_.removes(field)) return true;
      }
      return false;
    }
    const std::string_view id = id_of(content);
    return !id.empty() && judge_.removes(id);
  }

  std::size_t id_column_;
  DpcJudge& judge_;
  DroppedRanges* dropped_;
};

class DroppedRangesFilter final : public StreamFilter {
 public:
  explicit DroppedRangesFilter(std::shared_ptr<const DroppedRanges> dropped) : dropped_(std::move(dropped)) {
    if (!dropped_->complete) throw std::logic_error("DroppedRangesFilter: the ranges are incomplete");
  }

  void feed(std::string_view bytes, std::string& out) override {
    const std::vector<DroppedRanges::Range>& ranges = dropped_->ranges;
    while (!bytes.empty()) {
      const bool in_range = next_ < ranges.size() && ranges[next_].offset <= offset_;
      const std::uint64_t until = in_range                  ? ranges[next_].offset + ranges[next_].size
                                  : next_ < ranges.size() ? ranges[next_].offset
                                                          : offset_ + bytes.size();
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(until - offset_, bytes.size()));
      if (!in_range) out.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      offset_ += take;
      if (in_range && offset_ == until) ++next_;
    }
  }
  void finish(std::string& out) override { (void)out; }

 private:
  std::shared_ptr<const DroppedRanges> dropped_;
  std::size_t next_ = 0;     // the first range not passed yet
  std::uint64_t offset_ = 0;  // in the input
};

}  // namespace

void DroppedRanges::add(std::uint64_t offset, std::uint64_t size) {
  if (!complete) return;
  if (!ranges.empty() && ranges.back().offset + ranges.back().size == offset) {
    ranges.back().size += size;
    return;
  }
  if (ranges.size() >= limit) {
    complete = false;
    ranges = {};
    return;
  }
  ranges.push_back({offset, size});
}

std::unique_ptr<StreamFilter> make_dpc_row_filter(std::size_t id_column, DpcJudge& judge, DroppedRanges* dropped) {
  return std::make_unique<DpcRowFilter>(id_column, judge, dropped);
}

std::unique_ptr<StreamFilter> make_dropped_ranges_filter(std::shared_ptr<const DroppedRanges> dropped) {
  return std::make_unique<DroppedRangesFilter>(std::move(dropped));
}

}  // namespace medgw::claims
