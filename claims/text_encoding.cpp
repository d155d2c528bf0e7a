#include <claims/text_encoding.hpp>

#include <array>
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
