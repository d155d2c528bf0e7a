#pragma once
// The generator's text leaves in the hospital encodings: HL7 in ISO-2022-JP,
// claims in CP932. Generated text always fits; a character that does not is a
// bug in the catalogs and stops the run.
#include <string>
#include <string_view>

namespace medgw::sample {

[[nodiscard]] std::string to_jis(std::string_view utf8);
[[nodiscard]] std::string to_cp932(std::string_view utf8);

}  // namespace medgw::sample
