#include <claims/line_filter.hpp>

namespace medgw::claims {

void LineFilter::feed(std::string_view bytes, std::string& out) {
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
    give(line, out);
    partial_.clear();
    bytes.remove_prefix(newline + 1);
  }
}

void LineFilter::finish(std::string& out) {
  if (!partial_.empty()) {
    const std::string last = std::move(partial_);
    partial_.clear();
    give(last, out);
  }
  on_end(out);
}

void LineFilter::give(std::string_view line, std::string& out) {
  on_line(line, out);
  line_offset_ += line.size();
}

std::string_view LineFilter::content_of(std::string_view line) noexcept {
  if (line.ends_with('\n')) line.remove_suffix(1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

}  // namespace medgw::claims
