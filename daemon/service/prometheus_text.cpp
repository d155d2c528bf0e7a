#include <daemon/service/prometheus_text.hpp>

#include <charconv>
#include <cmath>

namespace medgw::daemon {
namespace {

void append_escaped(std::string& out, std::string_view value, bool quote_too) {
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote_too && c == '"') out += "\\\"";
    else out.push_back(c);
  }
}

}  // namespace

PrometheusText& PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  name_ = name;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
  return *this;
}

void PrometheusText::begin_sample(Labels labels) {
  text_ += name_;
  if (labels.size() > 0) {
    text_ += '{';
    bool first = true;
    for (const auto& [key, value] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += key;
      text_ += "=\"";
      append_escaped(text_, value, true);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
}

PrometheusText& PrometheusText::sample(std::uint64_t value, Labels labels) {
  begin_sample(labels);
  text_ += std::to_string(value);
  text_ += '\n';
  return *this;
}

PrometheusText& PrometheusText::sample(std::int64_t value, Labels labels) {
  begin_sample(labels);
  text_ += std::to_string(value);
  text_ += '\n';
  return *this;
}

PrometheusText& PrometheusText::sample(double value, Labels labels) {
  begin_sample(labels);
  if (std::isnan(value)) {
    text_ += "NaN";
  } else if (std::isinf(value)) {
    text_ += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest that round-trips
    text_.append(buffer, result.ptr);
  }
  text_ += '\n';
  return *this;
}

}  // namespace medgw::daemon
