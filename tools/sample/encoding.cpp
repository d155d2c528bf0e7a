#include <tools/sample/encoding.hpp>

#include <claims/text_encoding.hpp>

#include <stdexcept>

namespace medgw::sample {
namespace {

std::string encode_or_throw(std::optional<std::string> (*encode)(std::string_view, claims::ConversionError*),
                            std::string_view utf8, std::string_view charset) {
  claims::ConversionError error;
  auto encoded = encode(utf8, &error);
  if (!encoded) {
    throw std::runtime_error("internal error: generated text is not representable in " + std::string(charset) +
                             " at byte " + std::to_string(error.offset));
  }
  return std::move(*encoded);
}

}  // namespace

std::string to_jis(std::string_view utf8) { return encode_or_throw(claims::encode_iso2022jp, utf8, "ISO-2022-JP"); }
std::string to_cp932(std::string_view utf8) { return encode_or_throw(claims::encode_cp932, utf8, "CP932"); }

}  // namespace medgw::sample
