#include <daemon/support/redactor.hpp>

#include <crypto/age_keys.hpp>

#include <base/json.hpp>
#include <base/json_reader.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

namespace medgw::daemon {
namespace {

constexpr char escape = 0x1B;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_high(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7F;
}
bool is_delimiter(char c) {
  static constexpr std::string_view delimiters = " \t\"',;()[]{}<>=|`";
  return delimiters.find(c) != std::string_view::npos;
}

// One UTF-8 character at text[at]: its length and code point, or 0 when the
// bytes there are not UTF-8 (overlongs and surrogates included).
std::size_t utf8_char(std::string_view text, std::size_t at, char32_t& point) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  std::size_t length = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    point = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    point = (point << 6) | (byte(at + i) & 0x3F);
  }
  if ((length == 3 && point < 0x800) || (length == 4 && (point < 0x10000 || point > 0x10FFFF)) ||
      (point >= 0xD800 && point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

// Kana, kanji, CJK punctuation and full-width forms: what Japanese names are written in.
bool is_japanese(char32_t point) {
  return (point >= 0x3000 && point <= 0x30FF) || (point >= 0x31F0 && point <= 0x31FF) ||
         (point >= 0x3400 && point <= 0x4DBF) || (point >= 0x4E00 && point <= 0x9FFF) ||
         (point >= 0xF900 && point <= 0xFAFF) || (point >= 0xFF00 && point <= 0xFFEF) ||
         (point >= 0x20000 && point <= 0x3FFFF);
}

bool digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return false;
  for (std::size_t i = at; i < at + count; ++i) {
    if (!is_digit(text[i])) return false;
  }
  return true;
}

// The length of an RFC 3339-like timestamp or date at text[at] (0: none):
// YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|+HH[:]MM], or HH:MM:SS.fraction.
std::size_t timestamp_at(std::string_view text, std::size_t at) {
  std::size_t end = at;
  const auto time_of_day = [&](std::size_t from) -> std::size_t {
    if (!digits(text, from, 2) || from + 5 > text.size() || text[from + 2] != ':' || !digits(text, from + 3, 2)) return 0;
    std::size_t stop = from + 5;
    if (stop + 3 <= text.size() && text[stop] == ':' && digits(text, stop + 1, 2)) {
      stop += 3;
      if (stop < text.size() && (text[stop] == '.' || text[stop] == ',')) {
        std::size_t fraction = stop + 1;
        while (fraction < text.size() && is_digit(text[fraction])) ++fraction;
        if (fraction > stop + 1) stop = fraction;
      }
    }
    return stop;
  };
  if (digits(text, at, 4) && at + 10 <= text.size() && text[at + 4] == '-' && digits(text, at + 5, 2) &&
      text[at + 7] == '-' && digits(text, at + 8, 2)) {
    end = at + 10;
    if (end + 1 < text.size() && (text[end] == 'T' || text[end] == ' ')) {
      if (const std::size_t stop = time_of_day(end + 1)) end = stop;
    }
  } else if (const std::size_t stop = time_of_day(at); stop > at + 8) {
    end = stop;  // a time with seconds and a fraction
  } else {
    return 0;
  }
  if (end < text.size() && text[end] == 'Z') {
    ++end;
  } else if (end < text.size() && (text[end] == '+' || text[end] == '-') && digits(text, end + 1, 2)) {
    std::size_t zone = end + 3;
    if (zone < text.size() && text[zone] == ':') ++zone;
    if (digits(text, zone, 2)) end = zone + 2;
  }
  if (end < text.size() && is_alnum(text[end])) return 0;
  return end - at;
}

// 8-4-4-4-12 hex digits (object IDs, gateway IDs).
std::size_t uuid_at(std::string_view text, std::size_t at) {
  static constexpr std::array<std::size_t, 5> groups{8, 4, 4, 4, 12};
  std::size_t i = at;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t k = 0; k < groups[g]; ++k, ++i) {
      if (i >= text.size() || !is_hex(text[i])) return 0;
    }
    if (g + 1 < groups.size()) {
      if (i >= text.size() || text[i] != '-') return 0;
      ++i;
    }
  }
  if (i < text.size() && is_alnum(text[i])) return 0;
  return i - at;
}

// Digit groups joined by '-' with 8 digits or more in all (phone numbers,
// IDs written in groups); the length, or 0.
std::size_t grouped_number_at(std::string_view text, std::size_t at) {
  std::size_t i = at;
  std::size_t total = 0;
  std::size_t groups = 0;
  while (i < text.size() && is_digit(text[i])) {
    std::size_t run = 0;
    while (i < text.size() && is_digit(text[i])) {
      ++i;
      ++run;
    }
    total += run;
    ++groups;
    if (i + 1 < text.size() && text[i] == '-' && is_digit(text[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  if (groups < 2 || total < 8 || (i < text.size() && is_alpha(text[i]))) return 0;
  return i - at;
}

// medgw's own numeric log fields: their values are counts, sizes and times.
bool numeric_key(std::string_view key) {
  static constexpr std::array<std::string_view, 24> suffixes{
      "bytes", "size", "ms", "seconds", "files", "objects", "entries", "seq", "offset", "count", "watches",
      "directories", "pid", "port", "total", "limit", "attempts", "retries", "delivered", "rows", "version", "free",
      "length", "sent"};
  std::string lower(key);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::any_of(suffixes.begin(), suffixes.end(), [&](std::string_view suffix) { return lower.ends_with(suffix); });
}

// An SS-MIX2 file name, whole or its start: ID_date_type[_...].
bool ssmix2_name_shape(std::string_view part) {
  const auto first = part.find('_');
  if (first == std::string_view::npos || first == 0) return false;
  const auto second = part.find('_', first + 1);
  if (second == std::string_view::npos) return false;
  const std::string_view date = part.substr(first + 1, second - first - 1);
  if (date != "-" && !(date.size() == 8 && digits(date, 0, 8))) return false;
  const std::string_view type = part.substr(second + 1, part.find('_', second + 1) - second - 1);
  return !type.empty() && type[0] >= 'A' && type[0] <= 'Z';
}

// pid[0:3]/pid[3:6]/pid: three digits, three digits, a folder.
bool ssmix2_folder_shape(std::string_view token) {
  for (std::size_t at = 0; at + 8 < token.size(); ++at) {
    if ((at == 0 || token[at - 1] == '/') && digits(token, at, 3) && token[at + 3] == '/' && digits(token, at + 4, 3) &&
        token[at + 7] == '/' && token[at + 8] != '/') {
      return true;
    }
  }
  return false;
}

// HL7 components (a name is FAMILY^GIVEN), except a message type: ADT^A08 or
// ADT^A08^ADT_A01.
bool hl7_shape(std::string_view token) {
  if (token.find('^') == std::string_view::npos) return false;
  const auto code = [&](std::size_t at) {
    return at + 7 <= token.size() && is_alpha(token[at]) && is_alpha(token[at + 1]) && is_alpha(token[at + 2]) &&
           (token[at + 3] == '^' || token[at + 3] == '_') && is_alpha(token[at + 4]) && digits(token, at + 5, 2);
  };
  const bool message_type = code(0) && token[3] == '^' &&
                            (token.size() == 7 || (token.size() == 15 && token[7] == '^' && code(8) && token[11] == '_'));
  return !message_type;
}

double entropy(std::string_view token) {
  std::array<int, 256> counts{};
  for (char c : token) ++counts[static_cast<unsigned char>(c)];
  double bits = 0;
  for (int count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / static_cast<double>(token.size());
    bits -= p * std::log2(p);
  }
  return bits;
}

bool random_looking(std::string_view token) {
  if (token.size() < 16) return false;
  int lower = 0, upper = 0, digit = 0;
  for (char c : token) {
    lower |= (c >= 'a' && c <= 'z');
    upper |= (c >= 'A' && c <= 'Z');
    digit |= is_digit(c);
  }
  return lower + upper + digit >= 2 && entropy(token) >= 3.5;
}

}  // namespace

bool looks_secret(std::string_view value) {
  std::string lower(value);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view marker : {"age-secret-key-", "-----begin", "password", "passwd", "secret", "token", "apikey",
                                  "api_key", "api-key", "bearer", "private"}) {
    if (lower.find(marker) != std::string::npos) return true;
  }
  if (const auto scheme = value.find("://"); scheme != std::string_view::npos) {
    const std::string_view authority = value.substr(scheme + 3, value.find('/', scheme + 3) - scheme - 3);
    if (authority.find('@') != std::string_view::npos) return true;
  }
  // Public key material has a known shape.
  if (crypto::parse_recipient(value)) return false;
  if (value.starts_with("sha256//") && value.size() == 52) return false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    const bool token_char = i < value.size() && (is_alnum(value[i]) || value[i] == '+' || value[i] == '_' || value[i] == '=');
    if (token_char) continue;
    if (random_looking(value.substr(start, i - start))) return true;
    start = i + 1;
  }
  return false;
}

Redactor::Redactor(std::shared_ptr<const crypto::PatientTagger> tagger) : tagger_(std::move(tagger)) {}

void Redactor::add_patient_id(std::string_view id) {
  if (id.size() >= 4) ids_.emplace(id);
}

void Redactor::keep(std::string_view word) {
  if (!word.empty() && !ids_.contains(std::string(word))) kept_.emplace(word);
}

void Redactor::add_literal(std::string value, std::string replacement) {
  if (value.size() < 3) return;
  literals_.emplace_back(std::move(value), std::move(replacement));
  std::stable_sort(literals_.begin(), literals_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::string Redactor::line(std::string_view text) const {
  std::string replaced;
  if (!literals_.empty()) {
    replaced = std::string(text);
    for (const auto& [value, replacement] : literals_) {
      for (std::size_t at = replaced.find(value); at != std::string::npos; at = replaced.find(value, at + replacement.size())) {
        replaced.replace(at, value.size(), replacement);
      }
    }
    text = replaced;
  }
  std::string out;
  out.reserve(text.size() + 16);
  scan(text, out);
  return out;
}

void Redactor::scan(std::string_view text, std::string& out) const {
  std::string_view pending_key;  // "key" of a "key=value" whose value comes next
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == escape && i + 2 < text.size() && text[i + 1] == '(') {
      i += 3;  // ISO-2022-JP back to ASCII: nothing to show
      continue;
    }
    if (c == escape && i + 1 < text.size() && text[i + 1] == '$') {
      // ISO-2022-JP JIS X 0208: everything up to the switch back to ASCII.
      const std::size_t back = text.find("\x1B(", i + 2);
      i = back == std::string_view::npos ? text.size() : std::min(text.size(), back + 3);
      out += "<redacted:jis>";
      continue;
    }
    if (is_control(c)) {
      out.push_back('?');
      ++i;
      continue;
    }
    if (is_high(c)) {
      bool japanese = false;
      std::size_t valid = 0;
      while (i < text.size() && is_high(text[i])) {
        char32_t point = 0;
        const std::size_t length = utf8_char(text, i, point);
        if (length == 0) break;
        japanese = japanese || is_japanese(point);
        i += length;
        ++valid;
      }
      if (valid > 0) {
        out += japanese ? "<redacted:name>" : "<redacted:text>";
        continue;
      }
      // Not UTF-8 (CP932, EUC-JP...): the byte, and a Shift_JIS trail byte after a lead byte.
      while (i < text.size() && is_high(text[i])) {
        char32_t point = 0;
        if (utf8_char(text, i, point) != 0) break;
        const auto lead = static_cast<unsigned char>(text[i]);
        const bool sjis_lead = (lead >= 0x81 && lead <= 0x9F) || (lead >= 0xE0 && lead <= 0xFC);
        i += (sjis_lead && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x40 &&
              static_cast<unsigned char>(text[i + 1]) != 0x7F)
                 ? 2
                 : 1;
      }
      out += "<redacted:bytes>";
      continue;
    }
    if (is_delimiter(c)) {
      out.push_back(c);
      if (c == ' ' || c == '\t') pending_key = {};
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && !is_high(text[end]) && !is_control(text[end]) && !is_delimiter(text[end]) &&
           text[end] != escape) {
      ++end;
    }
    const std::string_view token = text.substr(i, end - i);
    const bool is_key = end < text.size() && text[end] == '=';
    // A journal line's "medgw[12345]:" process ID.
    if (i > 0 && text[i - 1] == '[' && end < text.size() && text[end] == ']' && token.size() <= 7 &&
        digits(token, 0, token.size())) {
      out += token;
    } else {
      ascii_token(token, pending_key, out);
    }
    pending_key = is_key ? token : std::string_view();
    i = end;
  }
}

void Redactor::ascii_token(std::string_view token, std::string_view key, std::string& out) const {
  if (token.find('/') != std::string_view::npos && ssmix2_folder_shape(token)) {
    out += "<redacted:path>";
    return;
  }
  for (std::size_t start = 0; start <= token.size();) {
    const auto slash = token.find('/', start);
    const std::string_view part = token.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (ssmix2_name_shape(part)) {
      out += "<redacted:path>";
      return;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (hl7_shape(token)) {
    out += "<redacted:hl7>";
    return;
  }
  words(token, key, out);
}

void Redactor::words(std::string_view token, std::string_view key, std::string& out) const {
  std::size_t k = 0;
  while (k < token.size()) {
    if (!is_alnum(token[k])) {
      out.push_back(token[k++]);
      continue;
    }
    const bool word_start = k == 0 || !is_alnum(token[k - 1]);
    if (word_start && is_digit(token[k])) {
      std::size_t length = timestamp_at(token, k);
      if (length == 0) length = uuid_at(token, k);
      if (length > 0) {
        out += token.substr(k, length);
        k += length;
        continue;
      }
      if (const std::size_t grouped = grouped_number_at(token, k)) {
        out += "<redacted:number>";
        k += grouped;
        continue;
      }
    }
    std::size_t end = k;
    while (end < token.size() && is_alnum(token[end])) ++end;
    const std::string_view run = token.substr(k, end - k);
    const bool whole = k == 0 && end == token.size();
    bool has_hex_letter = false, all_hex = true, has_digit = false;
    for (char c : run) {
      all_hex = all_hex && is_hex(c);
      has_hex_letter = has_hex_letter || (is_hex(c) && !is_digit(c));
      has_digit = has_digit || is_digit(c);
    }
    if (ids_.contains(std::string(run))) {
      out += tagger_->tag(run);
    } else if (kept_.contains(std::string(run))) {
      out += run;
    } else if (run.size() >= 16 && all_hex && has_hex_letter && has_digit) {
      out += run;  // a hash or key fingerprint
    } else {
      const bool tag_value = k >= 3 && token.substr(k - 3, 3) == "pt:";
      for (std::size_t r = 0; r < run.size();) {
        std::size_t stop = r;
        if (!is_digit(run[r])) {
          while (stop < run.size() && !is_digit(run[stop])) ++stop;
          out += run.substr(r, stop - r);
        } else {
          while (stop < run.size() && is_digit(run[stop])) ++stop;
          const std::string_view number = run.substr(r, stop - r);
          if (ids_.contains(std::string(number))) {
            out += tagger_->tag(number);
          } else if (number.size() >= 6 && !tag_value && !(whole && numeric_key(key)) &&
                     !kept_.contains(std::string(number))) {
            out += "<redacted:number>";
          } else {
            out += number;
          }
        }
        r = stop;
      }
    }
    k = end;
  }
}

std::string Redactor::text(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    std::string_view one = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (one.ends_with('\r')) one.remove_suffix(1);
    out += line(one);
    if (end == std::string_view::npos) break;
    out.push_back('\n');
    start = end + 1;
  }
  return out;
}

namespace {

void write_redacted(const base::JsonValue& value, const Redactor& redactor, base::JsonWriter& out) {
  switch (value.kind()) {
    case base::JsonValue::Kind::null: out.null(); break;
    case base::JsonValue::Kind::boolean: out.value(value.boolean()); break;
    case base::JsonValue::Kind::number: out.raw(value.text()); break;
    case base::JsonValue::Kind::string: out.value(redactor.line(value.text())); break;
    case base::JsonValue::Kind::array:
      out.begin_array();
      for (const base::JsonValue& item : value.items()) write_redacted(item, redactor, out);
      out.end_array();
      break;
    case base::JsonValue::Kind::object:
      out.begin_object();
      for (const auto& [name, member] : value.members()) {
        out.key(redactor.line(name));
        write_redacted(member, redactor, out);
      }
      out.end_object();
      break;
  }
}

bool is_number(std::string_view text) {
  if (text.empty()) return false;
  const std::string copy(text);
  char* end = nullptr;
  std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() || text == "NaN" || text == "+Inf" || text == "-Inf";
}

}  // namespace

std::string Redactor::json(std::string_view json) const {
  try {
    const base::JsonValue parsed = base::JsonValue::parse(json);
    base::JsonWriter out;
    write_redacted(parsed, *this, out);
    return out.take();
  } catch (const base::JsonError&) {
    return text(json);
  }
}

std::string Redactor::metrics(std::string_view text) const {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    std::string_view one = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    // "name{labels} value [timestamp]": the trailing numbers are kept.
    std::string_view head = one;
    if (!one.starts_with('#')) {
      for (int field = 0; field < 2; ++field) {
        const auto space = head.find_last_of(' ');
        if (space == std::string_view::npos || !is_number(head.substr(space + 1))) break;
        head = head.substr(0, space);
      }
    }
    out += line(head);
    out += one.substr(head.size());
    if (end == std::string_view::npos) break;
    out.push_back('\n');
    start = end + 1;
  }
  return out;
}

}  // namespace medgw::daemon
