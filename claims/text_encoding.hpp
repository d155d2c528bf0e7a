#pragma once
// Character-set conversion for the hospital formats, on glibc iconv:
// SS-MIX2 HL7 is ISO-2022-JP (JIS X 0208 between ESC $ B and ESC ( B); DPC
// and UKE files are Shift_JIS, decoded leniently as CP932.
//
// HL7 must be decoded BEFORE splitting fields: JIS X 0208 byte pairs use
// 0x21-0x7E, so '|', '^', '~', '\' and '&' bytes occur inside kanji.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::claims {

enum class Charset { utf8, iso2022jp, cp932 };

struct ConversionError {
  std::size_t offset = 0;  // byte offset in the input where conversion failed
};

// A reusable converter (one iconv descriptor). Not thread-safe; one per thread.
class Transcoder {
 public:
  Transcoder(Charset from, Charset to);
  Transcoder(const Transcoder&) = delete;
  Transcoder& operator=(const Transcoder&) = delete;
  Transcoder(Transcoder&& other) noexcept;
  Transcoder& operator=(Transcoder&& other) noexcept;
  ~Transcoder();

  // Converts all of `input`; on failure returns nullopt and sets `error`.
  [[nodiscard]] std::optional<std::string> convert(std::string_view input, ConversionError* error = nullptr);

 private:
  void* descriptor_;  // iconv_t
};

[[nodiscard]] std::optional<std::string> decode_iso2022jp(std::string_view bytes, ConversionError* error = nullptr);
[[nodiscard]] std::optional<std::string> decode_cp932(std::string_view bytes, ConversionError* error = nullptr);
[[nodiscard]] std::optional<std::string> encode_iso2022jp(std::string_view utf8, ConversionError* error = nullptr);
[[nodiscard]] std::optional<std::string> encode_cp932(std::string_view utf8, ConversionError* error = nullptr);

// Whether decode_cp932(bytes) would succeed, without converting: the same
// verdict (glibc's CP932 table, learnt from iconv once per process) at a few
// cycles a byte and no allocation, for validating files of hundreds of MiB.
[[nodiscard]] bool is_valid_cp932(std::string_view bytes);

// UTF-8 validation is base::is_valid_utf8 (<base/json.hpp>).

}  // namespace medgw::claims
