#include <daemon/media/kana_fold.hpp>

#include <array>
#include <cstdint>

namespace medgw::media {
namespace {

// U+FF61..U+FF9D (half-width forms) -> their full-width NFKC equivalents.
constexpr std::array<char16_t, 0x3D> half_width = {
    u'。', u'「', u'」', u'、', u'・', u'ヲ', u'ァ', u'ィ', u'ゥ', u'ェ', u'ォ', u'ャ', u'ュ', u'ョ', u'ッ', u'ー',
    u'ア', u'イ', u'ウ', u'エ', u'オ', u'カ', u'キ', u'ク', u'ケ', u'コ', u'サ', u'シ', u'ス', u'セ', u'ソ', u'タ',
    u'チ', u'ツ', u'テ', u'ト', u'ナ', u'ニ', u'ヌ', u'ネ', u'ノ', u'ハ', u'ヒ', u'フ', u'ヘ', u'ホ', u'マ', u'ミ',
    u'ム', u'メ', u'モ', u'ヤ', u'ユ', u'ヨ', u'ラ', u'リ', u'ル', u'レ', u'ロ', u'ワ', u'ン'};

constexpr char32_t combining_voiced = 0x3099;
constexpr char32_t combining_semi_voiced = 0x309A;

// Decodes one code point; invalid bytes come out as U+FFFD, one byte each.
char32_t next_code_point(std::string_view text, std::size_t& at) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  const std::uint8_t lead = byte(at);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || at + length > text.size()) {
    ++at;
    return 0xFFFD;
  }
  char32_t value = length == 1 ? lead : lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) {
      ++at;
      return 0xFFFD;
    }
    value = (value << 6) | (byte(at + i) & 0x3F);
  }
  at += length;
  return value;
}

void append_utf8(std::u32string_view points, std::string& out) {
  for (char32_t c : points) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

// The katakana that a voiced (semi-voiced) mark composes with, NFC style.
bool takes_voiced(char32_t c) {
  return (c >= u'カ' && c <= u'ヂ' && (c - u'カ') % 2 == 0) || c == u'ツ' || c == u'テ' || c == u'ト' ||
         (c >= u'ハ' && c <= u'ホ' && (c - u'ハ') % 3 == 0) || c == u'ウ' || c == u'ワ' || c == u'ヲ';
}
char32_t voiced(char32_t c) {
  if (c == u'ウ') return u'ヴ';
  if (c == u'ワ') return u'ヷ';
  if (c == u'ヲ') return u'ヺ';
  return c + 1;
}
bool takes_semi_voiced(char32_t c) { return c >= u'ハ' && c <= u'ホ' && (c - u'ハ') % 3 == 0; }

char32_t fold_one(char32_t c) {
  if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;                            // full-width ASCII
  if (c >= 0xFF61 && c <= 0xFF9D) return half_width[c - 0xFF61];          // half-width katakana
  if (c == 0xFF9E) return combining_voiced;
  if (c == 0xFF9F) return combining_semi_voiced;
  if ((c >= 0x3041 && c <= 0x3096) || c == 0x309D || c == 0x309E) return c + 0x60;  // hiragana
  if (c >= 'A' && c <= 'Z') return c + ('a' - 'A');
  return c;
}

bool is_space(char32_t c) { return c == ' ' || c == 0x3000 || c == '\t' || c == '\r' || c == '\n' || c == 0xA0; }

}  // namespace

std::string fold_for_search(std::string_view utf8) {
  std::u32string points;
  points.reserve(utf8.size());
  for (std::size_t at = 0; at < utf8.size();) {
    const char32_t c = fold_one(next_code_point(utf8, at));
    if (is_space(c)) continue;
    if (!points.empty() && c == combining_voiced && takes_voiced(points.back())) {
      points.back() = voiced(points.back());
    } else if (!points.empty() && c == combining_semi_voiced && takes_semi_voiced(points.back())) {
      points.back() = points.back() + 2;
    } else {
      points.push_back(c);
    }
  }
  std::string out;
  out.reserve(utf8.size());
  append_utf8(points, out);
  return out;
}

}  // namespace medgw::media
