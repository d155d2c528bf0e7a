// age header: parsing (strict, canonical) and serialisation.
#include <crypto/age.hpp>

#include <base/base64.hpp>

namespace medgw::crypto::age {
namespace {

constexpr std::string_view version_line = "age-encryption.org/v1";
constexpr std::string_view version_prefix = "age-encryption.org/";
constexpr std::string_view armor_line = "-----BEGIN AGE ENCRYPTED FILE-----";
constexpr std::size_t body_columns = 64;

HeaderParse fail(Error code, std::string detail) {
  HeaderParse result;
  result.status = ParseStatus::failed;
  result.failure = Failure{code, 0, std::move(detail)};
  return result;
}

bool valid_argument(std::string_view argument) {
  if (argument.empty()) return false;
  for (char c : argument) {
    if (static_cast<unsigned char>(c) < 33 || static_cast<unsigned char>(c) > 126) return false;
  }
  return true;
}

bool base64_characters(std::string_view line) {
  for (char c : line) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

HeaderParse parse_header(std::string_view data, bool at_end) {
  HeaderParse result;
  std::size_t position = 0;
  // Returns the next line without its '\n', or nullopt when it has not all arrived.
  auto next_line = [&]() -> std::optional<std::string_view> {
    const auto end = data.find('\n', position);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = data.substr(position, end - position);
    position = end + 1;
    return line;
  };
  auto incomplete = [&]() -> HeaderParse {
    if (data.size() > max_header_size) return fail(Error::header_malformed, "header longer than 1 MiB");
    if (at_end) return fail(Error::header_malformed, "the file ends inside the header");
    return result;  // need_more
  };

  auto first = next_line();
  if (!first) {
    // Refuse early what can never become an age (or armored age) first line,
    // with the same verdict the complete line would get.
    auto could_become = [&](std::string_view line) {
      const std::string_view head = data.substr(0, std::min(data.size(), line.size()));
      return line.starts_with(head);
    };
    if (!could_become(version_prefix) && !data.starts_with(version_prefix) && !could_become(armor_line) &&
        !data.starts_with(armor_line)) {
      return fail(Error::header_malformed, "not an age file (no age-encryption.org/v1 line)");
    }
    return incomplete();
  }
  if (*first != version_line) {
    if (first->starts_with(armor_line)) {
      return fail(Error::unsupported_version, "ASCII-armored age files are not supported; remove the armor with age -d first");
    }
    if (first->starts_with(version_prefix)) return fail(Error::unsupported_version, "unsupported age version");
    return fail(Error::header_malformed, "not an age file (no age-encryption.org/v1 line)");
  }

  while (true) {
    const std::size_t line_start = position;
    auto line = next_line();
    if (!line) return incomplete();
    if (line->starts_with("---")) {
      if (!line->starts_with("--- ")) return fail(Error::header_malformed, "bad MAC line");
      auto mac = base::base64_decode_canonical(line->substr(4));
      if (!mac || mac->size() != 32 || line->size() != 4 + 43) {
        return fail(Error::header_malformed, "the header MAC is not a canonical 32-byte base64 value");
      }
      std::copy(mac->begin(), mac->end(), result.header.mac.begin());
      result.header.mac_input_size = line_start + 3;
      result.header.size = position;
      result.status = ParseStatus::complete;
      return result;
    }
    if (!line->starts_with("-> ")) return fail(Error::header_malformed, "expected a stanza (->) or the MAC line (---)");
    Stanza stanza;
    std::string_view arguments = line->substr(3);
    while (true) {
      const auto space = arguments.find(' ');
      const std::string_view argument = arguments.substr(0, space);
      if (!valid_argument(argument)) return fail(Error::header_malformed, "a stanza argument is empty or has a bad character");
      stanza.arguments.emplace_back(argument);
      if (space == std::string_view::npos) break;
      arguments.remove_prefix(space + 1);
    }
    std::string body_text;
    while (true) {
      auto body_line = next_line();
      if (!body_line) return incomplete();
      if (body_line->size() > body_columns) return fail(Error::header_malformed, "a stanza body line is longer than 64 columns");
      if (!base64_characters(*body_line)) return fail(Error::header_malformed, "a stanza body line is not base64");
      body_text.append(*body_line);
      if (body_line->size() < body_columns) break;  // the short line ends the body
    }
    auto body = base::base64_decode_canonical(body_text);
    if (!body) return fail(Error::header_malformed, "a stanza body is not canonical base64");
    stanza.body = std::move(*body);
    result.header.stanzas.push_back(std::move(stanza));
  }
}

std::string header_text_without_mac(const std::vector<Stanza>& stanzas) {
  std::string out(version_line);
  out.push_back('\n');
  for (const Stanza& stanza : stanzas) {
    out.append("->");
    for (const std::string& argument : stanza.arguments) {
      out.push_back(' ');
      out.append(argument);
    }
    out.push_back('\n');
    const std::string body = base::base64_encode(stanza.body);
    for (std::size_t i = 0; i <= body.size(); i += body_columns) {
      // Always end with a short (possibly empty) line.
      out.append(body.substr(i, body_columns));
      out.push_back('\n');
      if (body.size() - i < body_columns) break;
    }
  }
  out.append("---");
  return out;
}

}  // namespace medgw::crypto::age
