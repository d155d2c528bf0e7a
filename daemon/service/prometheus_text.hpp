#pragma once
// Writes the Prometheus text exposition format (version 0.0.4): one HELP and
// TYPE line per family, then its samples; label values escaped.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace medgw::daemon {

class PrometheusText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

  // Starts a family; `type` is "counter" or "gauge". Counters end in _total.
  PrometheusText& family(std::string_view name, std::string_view type, std::string_view help);
  PrometheusText& sample(std::uint64_t value, Labels labels = {});
  PrometheusText& sample(std::int64_t value, Labels labels = {});
  PrometheusText& sample(double value, Labels labels = {});

  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  void begin_sample(Labels labels);
  std::string text_;
  std::string name_;
};

}  // namespace medgw::daemon
