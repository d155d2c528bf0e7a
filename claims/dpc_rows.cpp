#include <claims/dpc_rows.hpp>

#include <base/text.hpp>

#include <claims/dpc_files.hpp>
#include <claims/text_split.hpp>

namespace medgw::claims {
namespace {

class DpcRowFilter final : public LineFilter {
 public:
  DpcRowFilter(std::size_t id_column, DpcJudge& judge) : id_column_(id_column), judge_(judge) {}

 private:
  void on_line(std::string_view line, std::string& out) override {
    const std::string_view content = content_of(line);
    if (removed(content)) {
      ++counts_.removed;
      return;
    }
    if (!title_or_empty(content) &&
        judge_.holds(id_column_ == 0 ? std::nullopt : std::optional<std::string_view>(id_of(content)))) {
      ++counts_.held;
      return;
    }
    out.append(line);
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
};

}  // namespace

std::unique_ptr<StreamFilter> make_dpc_row_filter(std::size_t id_column, DpcJudge& judge) {
  return std::make_unique<DpcRowFilter>(id_column, judge);
}

}  // namespace medgw::claims
