#pragma once
// Reading HL7 v2 field values for display: components and sub-components,
// escape sequences (\F\ \S\ \T\ \R\ \E\ \.br\) undone, coded values shown by
// their text. Shared by the extract_*.cpp files.
#include <collectors/hl7.hpp>

#include <string>
#include <string_view>

namespace medgw::media::hl7 {

using collectors::Hl7Segment;

// The escape sequences of HL7 v2 undone for display.
[[nodiscard]] inline std::string unescape(std::string_view raw, char escape = '\\') {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != escape) {
      out.push_back(raw[i]);
      continue;
    }
    const std::size_t end = raw.find(escape, i + 1);
    if (end == std::string_view::npos) {
      out.append(raw.substr(i));
      break;
    }
    const std::string_view code = raw.substr(i + 1, end - i - 1);
    if (code == "F") out.push_back('|');
    else if (code == "S") out.push_back('^');
    else if (code == "T") out.push_back('&');
    else if (code == "R") out.push_back('~');
    else if (code == "E") out.push_back(escape);
    else if (code == ".br") out.push_back('\n');
    // other sequences (\H\ \N\ highlighting, \Xhh\ ...) are dropped
    i = end;
  }
  return out;
}

// Sub-component n (1-based) of a component ("a&b&c").
[[nodiscard]] inline std::string_view sub(std::string_view component, int n, char separator = '&') {
  for (int i = 1; i < n; ++i) {
    const std::size_t at = component.find(separator);
    if (at == std::string_view::npos) return {};
    component.remove_prefix(at + 1);
  }
  return component.substr(0, component.find(separator));
}

[[nodiscard]] inline std::string text(const Hl7Segment& s, int field, int component = 1, int repetition = 1) {
  return unescape(s.component(field, component, repetition));
}

// A coded value (CE/CWE "code^text^system") shown by its text, else its code.
[[nodiscard]] inline std::string coded(const Hl7Segment& s, int field, int repetition = 1) {
  std::string shown = text(s, field, 2, repetition);
  if (shown.empty()) shown = text(s, field, 1, repetition);
  return shown;
}

// A coded value inside one component ("code&text&system").
[[nodiscard]] inline std::string coded_sub(std::string_view component) {
  std::string shown = unescape(sub(component, 2));
  if (shown.empty()) shown = unescape(sub(component, 1));
  return shown;
}

// A person (XCN "id^family^given..." or XPN "family^given...").
[[nodiscard]] inline std::string person(const Hl7Segment& s, int field, bool with_id = true, int repetition = 1) {
  const int first = with_id ? 2 : 1;
  std::string name = text(s, field, first, repetition);
  const std::string given = text(s, field, first + 1, repetition);
  if (!given.empty()) name += (name.empty() ? "" : "\xE3\x80\x80") + given;  // U+3000 between names
  return name;
}

// How many repetitions a field has ("a~b~c" -> 3; empty -> 0).
[[nodiscard]] inline int repetitions(const Hl7Segment& s, int field, char separator = '~') {
  const std::string_view value = s.field(field);
  if (value.empty()) return 0;
  int count = 1;
  for (char c : value) count += c == separator ? 1 : 0;
  return count;
}

}  // namespace medgw::media::hl7
