#include <claims/text_encoding.hpp>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include <iconv.h>

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

std::optional<std::string> encode_iso2022jp(std::string_view utf8, ConversionError* error) {
  thread_local Transcoder transcoder(Charset::utf8, Charset::iso2022jp);
  return transcoder.convert(utf8, error);
}

std::optional<std::string> encode_cp932(std::string_view utf8, ConversionError* error) {
  thread_local Transcoder transcoder(Charset::utf8, Charset::cp932);
  return transcoder.convert(utf8, error);
}

}  // namespace medgw::claims
