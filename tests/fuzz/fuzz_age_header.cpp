// libFuzzer target: the age header parser on arbitrary bytes. It must never
// crash, hang or read out of bounds, and a header it accepts must serialise
// back to the bytes it was parsed from.
#include <crypto/age.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace medgw::crypto::age;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (bool at_end : {false, true}) {
    const HeaderParse parsed = parse_header(input, at_end);
    if (parsed.status != ParseStatus::complete) continue;
    const std::string text = header_text_without_mac(parsed.header.stanzas);
    if (input.substr(0, parsed.header.mac_input_size) != text) std::abort();  // canonical: one header, one encoding
    if (parsed.header.size > size) std::abort();
  }
  return 0;
}
