#include <claims/text_encoding.hpp>

#include <array>
#include <bit>
#include <bitset>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <iconv.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace medgw::claims {
namespace {

const char* iconv_name(Charset charset) {
  switch (charset) {
    case Charset::utf8: return "UTF-8";
    case Charset::iso2022jp: return "ISO-2022-JP";
    case Charset::cp932: return "CP932";
  }
  return "UTF-8";
}

iconv_t as_iconv(void* descriptor) { return static_cast<iconv_t>(descriptor); }

// CP932 is stateless, one or two bytes a character: a text decodes when
// each first byte is a character of its own, or a lead byte whose next byte
// completes one. Which are which is asked of iconv itself, byte by byte and
// pair by pair, so the table is the one decode_cp932 converts with.
struct Cp932Table {
  enum Kind : std::uint8_t { invalid, single, lead };
  std::array<Kind, 256> first{};
  std::array<std::bitset<256>, 256> pair{};  // [lead][trail]: a character
  bool ascii_single = false;                 // 0x00-0x7F are all characters of their own
};

Cp932Table learn_cp932() {
  Cp932Table table;
  const iconv_t descriptor = iconv_open(iconv_name(Charset::utf8), iconv_name(Charset::cp932));
  if (descriptor == reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1))) {
    throw std::runtime_error("this system's iconv cannot convert CP932 to UTF-8 (install the glibc gconv modules)");
  }
  // Whether `length` bytes convert whole; `incomplete` when iconv wants more.
  auto converts = [descriptor](const unsigned char* bytes, std::size_t length, bool* incomplete) {
    char in_copy[2];
    std::memcpy(in_copy, bytes, length);
    char out_buffer[16];
    char* in = in_copy;
    char* out = out_buffer;
    std::size_t in_left = length;
    std::size_t out_left = sizeof out_buffer;
    iconv(descriptor, nullptr, nullptr, nullptr, nullptr);
    const std::size_t result = iconv(descriptor, &in, &in_left, &out, &out_left);
    if (incomplete != nullptr) *incomplete = result == static_cast<std::size_t>(-1) && errno == EINVAL;
    return result != static_cast<std::size_t>(-1) && in_left == 0;
  };
  for (unsigned first = 0; first < 256; ++first) {
    const unsigned char one[1] = {static_cast<unsigned char>(first)};
    bool incomplete = false;
    if (converts(one, 1, &incomplete)) {
      table.first[first] = Cp932Table::single;
    } else if (incomplete) {
      table.first[first] = Cp932Table::lead;
      for (unsigned second = 0; second < 256; ++second) {
        const unsigned char two[2] = {static_cast<unsigned char>(first), static_cast<unsigned char>(second)};
        if (converts(two, 2, nullptr)) table.pair[first].set(second);
      }
    }
  }
  iconv_close(descriptor);
  table.ascii_single = true;
  for (unsigned byte = 0; byte < 0x80; ++byte) table.ascii_single = table.ascii_single && table.first[byte] == Cp932Table::single;
  return table;
}

const Cp932Table& cp932_table() {
  static const Cp932Table table = learn_cp932();
  return table;
}

// ISO-2022-JP as SS-MIX2 writes it: ASCII, and JIS X 0208 pairs between
// ESC $ B and ESC ( B. Each pair's UTF-8 is asked of iconv once (the text
// "ESC $ B pair ESC ( B" decoded), so the fast path converts as iconv does;
// anything else (other escapes, bytes >= 0x80, a pair iconv refuses, a text
// ending inside JIS X 0208) is left to iconv itself.
struct Jis0208Table {
  static constexpr unsigned cells = 94;
  std::array<std::array<char, 4>, cells * cells> utf8{};  // [0]: length, 0 = not decoded here
  bool ascii_identity = false;                           // ASCII mode passes 0x00-0x7F (but ESC) through
};

Jis0208Table learn_jis0208() {
  Jis0208Table table;
  Transcoder transcoder(Charset::iso2022jp, Charset::utf8);
  for (unsigned row = 0; row < Jis0208Table::cells; ++row) {
    for (unsigned cell = 0; cell < Jis0208Table::cells; ++cell) {
      const char text[] = {'\x1b', '$', 'B', static_cast<char>(0x21 + row), static_cast<char>(0x21 + cell), '\x1b', '(', 'B'};
      const auto decoded = transcoder.convert(std::string_view(text, sizeof text));
      if (!decoded || decoded->empty() || decoded->size() > 3) continue;
      auto& entry = table.utf8[row * Jis0208Table::cells + cell];
      entry[0] = static_cast<char>(decoded->size());
      std::memcpy(entry.data() + 1, decoded->data(), decoded->size());
    }
  }
  std::string ascii;
  for (unsigned byte = 0; byte < 0x80; ++byte) {
    if (byte != 0x1b) ascii.push_back(static_cast<char>(byte));
  }
  table.ascii_identity = transcoder.convert(ascii) == ascii;
  return table;
}

const Jis0208Table& jis0208_table() {
  static const Jis0208Table table = learn_jis0208();
  return table;
}

// The end of the run of ASCII bytes other than ESC that starts at `p`.
const unsigned char* ascii_run_end(const unsigned char* p, const unsigned char* const end) {
#if defined(__SSE2__)
  // 16 bytes at a time: a byte with its high bit set, or ESC, ends the run.
  const __m128i escape = _mm_set1_epi8(0x1b);
  for (; end - p >= 16; p += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto stops = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_or_si128(block, _mm_cmpeq_epi8(block, escape))));
    if (stops != 0) return p + std::countr_zero(stops);
  }
#endif
  while (p != end && *p < 0x80 && *p != 0x1b) ++p;
  return p;
}

// nullopt: not in the subset above; iconv decides.
std::optional<std::string> decode_common_iso2022jp(std::string_view bytes) {
  const Jis0208Table& table = jis0208_table();
  if (!table.ascii_identity) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = p + bytes.size();
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  bool jis = false;
  while (p != end) {
    if (*p == 0x1b) {
      if (end - p < 3) return std::nullopt;
      if (p[1] == '(' && p[2] == 'B') {
        jis = false;
      } else if (p[1] == '$' && p[2] == 'B') {
        jis = true;
      } else {
        return std::nullopt;
      }
      p += 3;
      continue;
    }
    if (!jis) {
      const auto* run = p;
      p = ascii_run_end(p, end);
      out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
      if (p != end && *p >= 0x80) return std::nullopt;
      continue;
    }
    if (end - p < 2 || p[0] < 0x21 || p[0] > 0x7e || p[1] < 0x21 || p[1] > 0x7e) return std::nullopt;
    const auto& entry = table.utf8[(p[0] - 0x21u) * Jis0208Table::cells + (p[1] - 0x21u)];
    if (entry[0] == 0) return std::nullopt;
    out.append(entry.data() + 1, static_cast<std::size_t>(entry[0]));
    p += 2;
  }
  if (jis) return std::nullopt;
  return out;
}

}  // namespace

Transcoder::Transcoder(Charset from, Charset to) : descriptor_(iconv_open(iconv_name(to), iconv_name(from))) {
  if (descriptor_ == reinterpret_cast<void*>(static_cast<std::intptr_t>(-1))) {
    throw std::runtime_error(std::string("this system's iconv cannot convert ") + iconv_name(from) + " to " +
                             iconv_name(to) + " (install the glibc gconv modules)");
  }
}

Transcoder::Transcoder(Transcoder&& other) noexcept : descriptor_(std::exchange(other.descriptor_, nullptr)) {}

Transcoder& Transcoder::operator=(Transcoder&& other) noexcept {
  std::swap(descriptor_, other.descriptor_);
  return *this;
}

Transcoder::~Transcoder() {
  if (descriptor_ != nullptr) iconv_close(as_iconv(descriptor_));
}

std::optional<std::string> Transcoder::convert(std::string_view input, ConversionError* error) {
  iconv(as_iconv(descriptor_), nullptr, nullptr, nullptr, nullptr);  // reset shift state
  std::string output;
  output.resize(input.size() * 2 + 16);
  char* in = const_cast<char*>(input.data());
  std::size_t in_left = input.size();
  std::size_t out_used = 0;
  auto grow_and_point = [&](char*& out, std::size_t& out_left) {
    out = output.data() + out_used;
    out_left = output.size() - out_used;
  };
  char* out = nullptr;
  std::size_t out_left = 0;
  grow_and_point(out, out_left);
  bool flushing = false;
  while (true) {
    const std::size_t result = flushing ? iconv(as_iconv(descriptor_), nullptr, nullptr, &out, &out_left)
                                        : iconv(as_iconv(descriptor_), &in, &in_left, &out, &out_left);
    out_used = static_cast<std::size_t>(out - output.data());
    if (result != static_cast<std::size_t>(-1)) {
      if (flushing) break;
      flushing = true;  // write the final shift sequence (ESC ( B) if any
      continue;
    }
    if (errno == E2BIG) {
      output.resize(output.size() * 2);
      grow_and_point(out, out_left);
      continue;
    }
    // EILSEQ (invalid sequence) or EINVAL (truncated sequence at the end).
    if (error != nullptr) error->offset = input.size() - in_left;
    return std::nullopt;
  }
  output.resize(out_used);
  return output;
}

std::optional<std::string> decode_iso2022jp(std::string_view bytes, ConversionError* error) {
  // iconv's ISO-2022-JP module costs more than reading an SS-MIX2 file;
  // the common case is decoded by table (the same result, see above).
  if (auto decoded = decode_common_iso2022jp(bytes)) return decoded;
  thread_local Transcoder transcoder(Charset::iso2022jp, Charset::utf8);
  return transcoder.convert(bytes, error);
}

std::optional<std::string> decode_cp932(std::string_view bytes, ConversionError* error) {
  thread_local Transcoder transcoder(Charset::cp932, Charset::utf8);
  return transcoder.convert(bytes, error);
}

bool is_valid_cp932(std::string_view bytes) {
  const Cp932Table& table = cp932_table();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = p + bytes.size();
  while (p != end) {
    // ASCII runs, 16 or 8 bytes at a time: most of a DPC or UKE line.
    if (table.ascii_single) {
#if defined(__SSE2__)
      while (end - p >= 16 && _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) == 0) p += 16;
#endif
      std::uint64_t word = 0;
      while (end - p >= 8 && (std::memcpy(&word, p, 8), (word & 0x8080808080808080ULL) == 0)) p += 8;
    }
    if (p == end) break;
    switch (table.first[*p]) {
      case Cp932Table::single: ++p; break;
      case Cp932Table::lead:
        if (end - p < 2 || !table.pair[p[0]].test(p[1])) return false;
        p += 2;
        break;
      case Cp932Table::invalid: return false;
    }
  }
  return true;
}

std::optional<std::string> encode_iso2022jp(std::string_view utf8, ConversionError* error) {
  thread_local Transcoder transcoder(Charset::utf8, Charset::iso2022jp);
  return transcoder.convert(utf8, error);
}

std::optional<std::string> encode_cp932(std::string_view utf8, ConversionError* error) {
  thread_local Transcoder transcoder(Charset::utf8, Charset::cp932);
  return transcoder.convert(utf8, error);
}

}  // namespace medgw::claims
