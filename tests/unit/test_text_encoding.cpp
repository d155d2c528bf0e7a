#include <claims/text_encoding.hpp>

#include <base/json.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace medgw::claims;
namespace base = medgw::base;

TEST_CASE("ISO-2022-JP round trip, including JIS pairs holding HL7 delimiter bytes", "[encoding]") {
  // 山本 (0x5C '\'), 五十嵐 (0x5E '^'), 服部 (0x7E '~'), 奥村 (0x7C '|'), 勇 (0x26 '&').
  const std::string utf8 = "PID|||1^^^^PI||山本^勇~五十嵐^服部~奥村";
  auto jis = encode_iso2022jp(utf8);
  REQUIRE(jis);
  const std::string_view bytes = *jis;
  const auto kanji_start = bytes.find("\x1b$B");
  REQUIRE(kanji_start != std::string_view::npos);
  const std::string_view kanji_run = bytes.substr(kanji_start + 3, bytes.find("\x1b(B", kanji_start) - kanji_start - 3);
  for (char delimiter : {'\\', '^', '~', '|', '&'}) {
    INFO(delimiter);
    CHECK(bytes.find(delimiter, kanji_start) != std::string_view::npos);
  }
  CHECK(kanji_run.find('\\') != std::string_view::npos);  // 山本 itself
  auto back = decode_iso2022jp(*jis);
  REQUIRE(back);
  CHECK(*back == utf8);
}

TEST_CASE("bytes outside JIS X 0208 are refused with their offset", "[encoding]") {
  ConversionError error;
  CHECK_FALSE(decode_iso2022jp(std::string("abc\x1b$B\xFB\xFC\x1b(B", 11), &error));
  CHECK(error.offset >= 3);
  CHECK_FALSE(encode_iso2022jp("ｶﾅ"));  // half-width kana is not allowed in ISO-2022-JP
}

TEST_CASE("CP932 round trip and lenient vendor characters", "[encoding]") {
  const std::string utf8 = "テスト　汎用,①,㈱";
  auto sjis = encode_cp932(utf8);
  REQUIRE(sjis);
  auto back = decode_cp932(*sjis);
  REQUIRE(back);
  CHECK(*back == utf8);
  ConversionError error;
  CHECK_FALSE(decode_cp932(std::string("ab\x81", 3), &error));  // truncated double-byte
  CHECK(error.offset == 2);
}

TEST_CASE("UTF-8 validation", "[encoding]") {
  using medgw::base::is_valid_utf8;
  CHECK(base::is_valid_utf8("plain ascii"));
  CHECK(base::is_valid_utf8("日本語"));
  CHECK_FALSE(base::is_valid_utf8(std::string("\xC0\xAF", 2)));          // overlong '/'
  CHECK_FALSE(base::is_valid_utf8(std::string("\xED\xA0\x80", 3)));      // surrogate
  CHECK_FALSE(base::is_valid_utf8(std::string("\xE6\x97", 2)));          // truncated
  CHECK_FALSE(base::is_valid_utf8(std::string("\x93\xfa\x96\x7b", 4)));  // Shift_JIS 日本
}

TEST_CASE("CP932 validation agrees with decoding, byte for byte", "[encoding]") {
  // Every one- and two-byte text, and three-byte texts around each lead byte.
  for (unsigned first = 0; first < 256; ++first) {
    const std::string one(1, static_cast<char>(first));
    INFO(first);
    REQUIRE(is_valid_cp932(one) == decode_cp932(one).has_value());
    for (unsigned second = 0; second < 256; ++second) {
      const std::string two{static_cast<char>(first), static_cast<char>(second)};
      INFO(second);
      REQUIRE(is_valid_cp932(two) == decode_cp932(two).has_value());
    }
  }
  // Longer texts: ASCII runs (the eight-byte path) broken by double-byte
  // characters, half-width kana and bad bytes at every position.
  std::uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1664525U + 1013904223U;
    return state >> 24;
  };
  const std::string pieces[] = {"abcdefgh", "0123", "\t", "\x93\xfa", "\x96\x7b", "\xb1", "\x81", "\x80",
                                "\xa0",     "\xfd", "\x87\x40", "\xf0\x40", "\xfc\xfc", "\x81\x7f", "\r\n"};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const unsigned count = next() % 12;
    for (unsigned i = 0; i < count; ++i) text += pieces[next() % std::size(pieces)];
    INFO(text);
    REQUIRE(is_valid_cp932(text) == decode_cp932(text).has_value());
  }
  CHECK(is_valid_cp932(""));
  CHECK(is_valid_cp932(*encode_cp932("テスト　汎用,①,㈱ ｶﾅ and a long ascii tail")));
  CHECK_FALSE(is_valid_cp932(std::string("ab\x81", 3)));  // truncated double-byte
}

TEST_CASE("ISO-2022-JP decoding agrees with iconv on texts of every shape", "[encoding]") {
  // decode_iso2022jp decodes the common shape by table and leaves the rest to
  // iconv; iconv itself is the judge here. Texts are pieced together from
  // ASCII (control bytes too), every kind of escape, JIS pairs in and out of
  // range, bytes >= 0x80, and escapes cut short.
  Transcoder iconv_only(Charset::iso2022jp, Charset::utf8);
  std::uint32_t state = 12345;
  auto next = [&state](std::uint32_t below) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % below;
  };
  const std::vector<std::string> escapes = {"\x1b(B", "\x1b$B", "\x1b(J", "\x1b$@", "\x1b(I", "\x1b$", "\x1b", "\x1b$A"};
  int agreed = 0;
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const std::uint32_t pieces = 1 + next(12);
    for (std::uint32_t piece = 0; piece < pieces; ++piece) {
      switch (next(10)) {
        case 0: text += escapes[next(static_cast<std::uint32_t>(escapes.size()))]; break;
        case 1: text += "\x1b$B"; [[fallthrough]];
        case 2:
        case 3:
          for (std::uint32_t pair = next(4); pair-- > 0;) {
            text.push_back(static_cast<char>(0x21 + next(94)));
            text.push_back(static_cast<char>(0x21 + next(94)));
          }
          if (next(3) != 0) text += "\x1b(B";
          break;
        case 4: text.push_back(static_cast<char>(next(0x20))); break;       // control bytes
        case 5: text.push_back(static_cast<char>(0x80 + next(0x80))); break;  // never ISO-2022-JP
        case 6: text.push_back(static_cast<char>(0x20 + next(0x60))); break;  // one byte: a pair cut short?
        default: text += "PID|||1^^^^PI||"; break;
      }
    }
    const auto expected = iconv_only.convert(text);
    const auto actual = decode_iso2022jp(text);
    INFO("round " << round);
    REQUIRE(actual.has_value() == expected.has_value());
    if (expected) {
      REQUIRE(*actual == *expected);
      ++decoded;
    }
    ++agreed;
  }
  CHECK(agreed == 20000);
  CHECK(decoded > 2000);  // enough texts that decode at all
  // Every JIS X 0208 pair alone, as iconv sees it.
  for (int row = 0x21; row <= 0x7e; ++row) {
    for (int cell = 0x21; cell <= 0x7e; ++cell) {
      const std::string text = std::string("a\x1b$B") + static_cast<char>(row) + static_cast<char>(cell) + "\x1b(Bz";
      const auto expected = iconv_only.convert(text);
      const auto actual = decode_iso2022jp(text);
      REQUIRE(actual.has_value() == expected.has_value());
      if (expected) REQUIRE(*actual == *expected);
    }
  }
}
