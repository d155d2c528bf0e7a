#pragma once
// A minimal HL7 v2 reader for already-decoded (UTF-8) SS-MIX2 messages:
// segments, fields, repetitions and components, with the delimiters taken
// from MSH-1/MSH-2. Tolerant of the segment-end variants seen in real
// storages (CR, LF, CRLF, a trailing 0x1C/0x0B, trailing spaces).
#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace medgw::collectors {

struct Hl7Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
};

class Hl7Segment {
 public:
  Hl7Segment(std::string_view text, const Hl7Delimiters& delimiters);

  [[nodiscard]] std::string_view id() const noexcept { return id_; }
  [[nodiscard]] std::string_view text() const noexcept { return text_; }
  // HL7 field number n (1-based; for MSH, MSH-1 is the field separator).
  // Empty when absent.
  [[nodiscard]] std::string_view field(int number) const;
  // One component of one repetition of a field (all 1-based).
  [[nodiscard]] std::string_view component(int field_number, int component_number, int repetition = 1) const;
  [[nodiscard]] std::size_t field_count() const noexcept;

 private:
  std::string_view text_;
  std::string_view id_;
  std::vector<std::string_view> fields_;  // fields_[0] = segment id
  Hl7Delimiters delimiters_;
  bool is_msh_;
};

struct Hl7ParseError {
  std::string message;  // never contains message content (it may be PHI)
};

// The message without its framing (leading VT/CR/LF, trailing FS/VT/CR/LF/spaces).
[[nodiscard]] std::string_view hl7_strip_framing(std::string_view utf8);
// The delimiters from MSH-1/MSH-2 of a framing-stripped message; nullopt (and
// `error`) when it does not start with a usable MSH segment.
[[nodiscard]] std::optional<Hl7Delimiters> hl7_delimiters(std::string_view message, Hl7ParseError* error = nullptr);
// Calls `visit(line)` for each non-empty segment line (CR, LF or CRLF ends,
// trailing spaces dropped), in order; stops early when visit returns false.
// Where the line starting `text` ends: its first CR or LF, or text.size().
[[nodiscard]] inline std::size_t hl7_line_end(std::string_view text) {
  std::size_t end = 0;  // (find_first_of would call memchr once per byte)
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; end + 16 <= text.size(); end += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + end));
    const auto found =
        static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(block, cr), _mm_cmpeq_epi8(block, lf))));
    if (found != 0) return end + static_cast<std::size_t>(std::countr_zero(found));
  }
#endif
  while (end < text.size() && text[end] != '\r' && text[end] != '\n') ++end;
  return end;
}

template <class Visit>
void for_each_hl7_line(std::string_view message, Visit&& visit) {
  while (!message.empty()) {
    const std::size_t end = hl7_line_end(message);
    std::string_view line = message.substr(0, end);
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    if (!line.empty() && !visit(line)) return;
    if (end == message.size()) return;
    message.remove_prefix(end + 1);
  }
}

class Hl7Message {
 public:
  // Parses `utf8`; the message keeps views into a copy it owns.
  [[nodiscard]] static std::optional<Hl7Message> parse(std::string_view utf8, Hl7ParseError* error = nullptr);

  Hl7Message(const Hl7Message& other);
  Hl7Message& operator=(const Hl7Message& other);
  // Segments are views into text_; a move re-points them (short strings
  // move by copy, so the views cannot simply travel along).
  Hl7Message(Hl7Message&& other) noexcept;
  Hl7Message& operator=(Hl7Message&& other) noexcept;

  [[nodiscard]] const std::vector<Hl7Segment>& segments() const noexcept { return segments_; }
  [[nodiscard]] const Hl7Segment* find(std::string_view id, std::size_t occurrence = 0) const;
  [[nodiscard]] const Hl7Delimiters& delimiters() const noexcept { return delimiters_; }

  // MSH-9 as "ADT^A08" (message code ^ trigger event).
  [[nodiscard]] std::string message_type() const;

 private:
  Hl7Message() = default;
  void build();
  std::string text_;
  Hl7Delimiters delimiters_;
  std::vector<Hl7Segment> segments_;
};

}  // namespace medgw::collectors
