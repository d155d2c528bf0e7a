#pragma once
// A small streaming JSON writer for manifests, status documents and receipts.
// Strings are written as UTF-8; bytes that are not valid UTF-8 are replaced by
// U+FFFD (callers that must keep raw bytes add them base64-encoded).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::base {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(std::uint64_t number);
  JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
  JsonWriter& value(double number);
  JsonWriter& value(bool flag);
  JsonWriter& null();
  // Inserts already-serialised JSON (e.g. a collector's meta object).
  JsonWriter& raw(std::string_view json);

  template <class T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  [[nodiscard]] const std::string& text() const noexcept { return out_; }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  void separator();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
[[nodiscard]] bool is_valid_utf8(std::string_view text) noexcept;

// Appends `text` as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view text);

}  // namespace medgw::base
