#include <collectors/hl7.hpp>
#include <claims/text_split.hpp>

namespace medgw::collectors {
namespace {


std::string_view nth_part(std::string_view text, char separator, int number) {
  if (number < 1) return {};
  std::size_t start = 0;
  for (int i = 1; i < number; ++i) {
    const auto next = text.find(separator, start);
    if (next == std::string_view::npos) return {};
    start = next + 1;
  }
  const auto end = text.find(separator, start);
  return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

}  // namespace

Hl7Segment::Hl7Segment(std::string_view text, const Hl7Delimiters& delimiters)
    : text_(text), delimiters_(delimiters), is_msh_(text.starts_with("MSH")) {
  fields_ = claims::split_on(text, delimiters.field);
  id_ = fields_.empty() ? std::string_view() : fields_[0];
}

std::size_t Hl7Segment::field_count() const noexcept {
  return fields_.empty() ? 0 : fields_.size() - 1 + (is_msh_ ? 1 : 0);
}

std::string_view Hl7Segment::field(int number) const {
  if (number < 1) return {};
  if (is_msh_) {
    if (number == 1) return text_.substr(3, 1);
    // fields_[1] is MSH-2 (encoding characters).
    const auto index = static_cast<std::size_t>(number - 1);
    return index < fields_.size() ? fields_[index] : std::string_view();
  }
  const auto index = static_cast<std::size_t>(number);
  return index < fields_.size() ? fields_[index] : std::string_view();
}

std::string_view Hl7Segment::component(int field_number, int component_number, int repetition) const {
  const std::string_view value = field(field_number);
  if (is_msh_ && field_number <= 2) return value;
  const std::string_view repeated = nth_part(value, delimiters_.repetition, repetition);
  return nth_part(repeated, delimiters_.component, component_number);
}

std::string_view hl7_strip_framing(std::string_view utf8) {
  while (!utf8.empty() && (utf8.back() == '\x1c' || utf8.back() == '\x0b' || utf8.back() == '\r' ||
                           utf8.back() == '\n' || utf8.back() == ' ')) {
    utf8.remove_suffix(1);
  }
  while (!utf8.empty() && (utf8.front() == '\x0b' || utf8.front() == '\r' || utf8.front() == '\n')) {
    utf8.remove_prefix(1);
  }
  return utf8;
}

std::optional<Hl7Delimiters> hl7_delimiters(std::string_view message, Hl7ParseError* error) {
  auto fail = [&](std::string text) -> std::optional<Hl7Delimiters> {
    if (error != nullptr) error->message = std::move(text);
    return std::nullopt;
  };
  if (!message.starts_with("MSH")) return fail("message does not start with an MSH segment");
  if (message.size() < 8) return fail("MSH segment is too short");
  Hl7Delimiters d;
  d.field = message[3];
  const std::string_view encoding = message.substr(4, message.find(d.field, 4) - 4);
  if (encoding.size() < 4) return fail("MSH-2 (encoding characters) is incomplete");
  d.component = encoding[0];
  d.repetition = encoding[1];
  d.escape = encoding[2];
  d.subcomponent = encoding[3];
  return d;
}

std::optional<Hl7Message> Hl7Message::parse(std::string_view utf8, Hl7ParseError* error) {
  utf8 = hl7_strip_framing(utf8);
  auto delimiters = hl7_delimiters(utf8, error);
  if (!delimiters) return std::nullopt;
  Hl7Message message;
  message.text_ = std::string(utf8);
  message.delimiters_ = *delimiters;
  message.build();
  return message;
}

void Hl7Message::build() {
  segments_.clear();
  for_each_hl7_line(text_, [&](std::string_view line) {
    segments_.emplace_back(line, delimiters_);
    return true;
  });
}

Hl7Message::Hl7Message(const Hl7Message& other) : text_(other.text_), delimiters_(other.delimiters_) { build(); }

Hl7Message& Hl7Message::operator=(const Hl7Message& other) {
  if (this != &other) {
    text_ = other.text_;
    delimiters_ = other.delimiters_;
    build();
  }
  return *this;
}

Hl7Message::Hl7Message(Hl7Message&& other) noexcept
    : text_(std::move(other.text_)), delimiters_(other.delimiters_) {
  other.segments_.clear();
  build();
}

Hl7Message& Hl7Message::operator=(Hl7Message&& other) noexcept {
  if (this != &other) {
    text_ = std::move(other.text_);
    delimiters_ = other.delimiters_;
    other.segments_.clear();
    build();
  }
  return *this;
}

const Hl7Segment* Hl7Message::find(std::string_view id, std::size_t occurrence) const {
  for (const Hl7Segment& segment : segments_) {
    if (segment.id() == id && occurrence-- == 0) return &segment;
  }
  return nullptr;
}

std::string Hl7Message::message_type() const {
  const Hl7Segment* msh = find("MSH");
  if (msh == nullptr) return {};
  return std::string(msh->component(9, 1)) + "^" + std::string(msh->component(9, 2));
}

}  // namespace medgw::collectors
