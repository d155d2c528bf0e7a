#pragma once
// A small JSON reader for what medgw itself exchanges: manifests (the
// reference receiver lands objects by them) and receipts (the gateway
// verifies them). Strict RFC 8259; numbers keep their text so 64-bit
// integers survive; depth and size are bounded by the caller's input.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::base {

class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class JsonValue {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  // Throws JsonError (with the byte offset) on malformed input.
  [[nodiscard]] static JsonValue parse(std::string_view text);

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool is_object() const noexcept { return kind_ == Kind::object; }
  [[nodiscard]] bool is_string() const noexcept { return kind_ == Kind::string; }
  // Members of an object; nullptr when absent (or not an object).
  [[nodiscard]] const JsonValue* find(std::string_view key) const;
  // Typed access; throw JsonError naming the key when absent or of another kind.
  [[nodiscard]] const std::string& string_at(std::string_view key) const;
  [[nodiscard]] std::uint64_t uint_at(std::string_view key) const;
  [[nodiscard]] const JsonValue& at(std::string_view key) const;

  [[nodiscard]] const std::string& text() const noexcept { return text_; }  // string value, or number as written
  [[nodiscard]] bool boolean() const noexcept { return boolean_; }
  [[nodiscard]] std::optional<std::uint64_t> as_uint() const;
  [[nodiscard]] const std::vector<JsonValue>& items() const noexcept { return items_; }
  [[nodiscard]] const std::vector<std::pair<std::string, JsonValue>>& members() const noexcept { return members_; }

 private:
  friend class JsonParser;
  Kind kind_ = Kind::null;
  bool boolean_ = false;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace medgw::base
