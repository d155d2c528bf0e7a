#include <dicom/protocol.hpp>

#include <algorithm>

namespace medgw::dicom {
namespace {

using base::fail;

std::uint16_t be16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) | static_cast<unsigned char>(bytes[at + 1]));
}
std::uint32_t be32(std::string_view bytes, std::size_t at) {
  return (std::uint32_t{be16(bytes, at)} << 16) | be16(bytes, at + 2);
}
std::uint16_t le16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[at]) | (static_cast<unsigned char>(bytes[at + 1]) << 8));
}
std::uint32_t le32(std::string_view bytes, std::size_t at) {
  return le16(bytes, at) | (std::uint32_t{le16(bytes, at + 2)} << 16);
}

void put_be16(std::string& out, std::uint32_t value) {
  out.push_back(static_cast<char>((value >> 8) & 0xFF));
  out.push_back(static_cast<char>(value & 0xFF));
}
void put_be32(std::string& out, std::uint32_t value) {
  put_be16(out, value >> 16);
  put_be16(out, value & 0xFFFF);
}
void put_le16(std::string& out, std::uint32_t value) {
  out.push_back(static_cast<char>(value & 0xFF));
  out.push_back(static_cast<char>((value >> 8) & 0xFF));
}
void put_le32(std::string& out, std::uint32_t value) {
  put_le16(out, value & 0xFFFF);
  put_le16(out, value >> 16);
}

std::string_view trim_ae(std::string_view field) {
  while (!field.empty() && (field.back() == ' ' || field.back() == '\0')) field.remove_suffix(1);
  while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
  return field;
}

std::string padded_ae(std::string_view ae) {
  std::string out(ae.substr(0, 16));
  out.resize(16, ' ');
  return out;
}

// An item or sub-item: type, reserved, 2-byte length, value.
struct Item {
  std::uint8_t type = 0;
  std::string_view value;
};

base::Result<std::vector<Item>> split_items(std::string_view bytes, std::string_view where) {
  std::vector<Item> items;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 4) return fail("bad_pdu", std::string(where) + ": an item header is cut short");
    const std::uint16_t length = be16(bytes, at + 2);
    if (bytes.size() - at - 4 < length) return fail("bad_pdu", std::string(where) + ": an item runs past its PDU");
    items.push_back({static_cast<std::uint8_t>(bytes[at]), bytes.substr(at + 4, length)});
    at += 4 + std::size_t{length};
  }
  return items;
}

base::Result<ProposedContext> parse_context(std::string_view value) {
  if (value.size() < 4) return fail("bad_pdu", "a presentation context item is too short");
  ProposedContext context;
  context.id = static_cast<std::uint8_t>(value[0]);
  auto sub = split_items(value.substr(4), "presentation context");
  if (!sub) return fail(sub.error());
  for (const Item& item : *sub) {
    if (item.type == 0x30) context.abstract_syntax = std::string(trim_uid(item.value));
    if (item.type == 0x40) context.transfer_syntaxes.emplace_back(trim_uid(item.value));
  }
  if (context.id % 2 == 0) return fail("bad_pdu", "a presentation context ID is even");
  if (context.abstract_syntax.empty()) return fail("bad_pdu", "a presentation context has no abstract syntax");
  return context;
}

void put_item(std::string& out, std::uint8_t type, std::string_view value) {
  out.push_back(static_cast<char>(type));
  out.push_back('\0');
  put_be16(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

std::string pdu(PduType type, std::string_view body) {
  std::string out;
  out.reserve(6 + body.size());
  out.push_back(static_cast<char>(type));
  out.push_back('\0');
  put_be32(out, static_cast<std::uint32_t>(body.size()));
  out.append(body);
  return out;
}

void put_element(std::string& out, std::uint16_t element, std::string_view value) {
  put_le16(out, 0x0000);
  put_le16(out, element);
  put_le32(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}
void put_us(std::string& out, std::uint16_t element, std::uint16_t value) {
  std::string bytes;
  put_le16(bytes, value);
  put_element(out, element, bytes);
}
void put_text(std::string& out, std::uint16_t element, std::string_view text, char pad) {
  std::string value(text);
  if (value.size() % 2 != 0) value.push_back(pad);
  put_element(out, element, value);
}

}  // namespace

std::string_view trim_uid(std::string_view value) {
  while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.remove_suffix(1);
  return value;
}

bool valid_uid(std::string_view text) {
  if (text.empty() || text.size() > 64 || text.front() == '.' || text.back() == '.') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

base::Result<AssociateRequest> parse_associate_rq(std::string_view body) {
  if (body.size() < 68) return fail("bad_pdu", "the association request is shorter than its fixed fields");
  AssociateRequest request;
  request.called_ae = std::string(trim_ae(body.substr(4, 16)));
  request.calling_ae = std::string(trim_ae(body.substr(20, 16)));
  auto items = split_items(body.substr(68), "association request");
  if (!items) return fail(items.error());
  for (const Item& item : *items) {
    switch (item.type) {
      case 0x10: request.application_context = std::string(trim_uid(item.value)); break;
      case 0x20: {
        auto context = parse_context(item.value);
        if (!context) return fail(context.error());
        request.contexts.push_back(std::move(*context));
        break;
      }
      case 0x50: {
        auto sub = split_items(item.value, "user information");
        if (!sub) return fail(sub.error());
        for (const Item& info : *sub) {
          if (info.type == 0x51 && info.value.size() == 4) request.max_pdu = be32(info.value, 0);
        }
        break;
      }
      default: break;  // items of later editions are ignored, as PS3.8 asks
    }
  }
  if (request.contexts.empty()) return fail("bad_pdu", "the association request proposes no presentation context");
  return request;
}

std::string associate_ac(const AssociateRequest& request, std::span<const ContextAnswer> answers,
                         std::uint32_t max_pdu) {
  std::string body;
  put_be16(body, 0x0001);
  put_be16(body, 0);
  body.append(padded_ae(request.called_ae));
  body.append(padded_ae(request.calling_ae));
  body.append(32, '\0');
  put_item(body, 0x10, application_context_uid);
  for (const ContextAnswer& answer : answers) {
    std::string value;
    value.push_back(static_cast<char>(answer.id));
    value.push_back('\0');
    value.push_back(static_cast<char>(answer.result));
    value.push_back('\0');
    put_item(value, 0x40, answer.result == ContextResult::accepted ? std::string_view(answer.transfer_syntax)
                                                                    : implicit_le_uid);
    put_item(body, 0x21, value);
  }
  std::string user;
  std::string length;
  put_be32(length, max_pdu);
  put_item(user, 0x51, length);
  put_item(user, 0x52, implementation_class_uid);
  put_item(user, 0x55, implementation_version);
  put_item(body, 0x50, user);
  return pdu(PduType::associate_ac, body);
}

std::string associate_rj(std::uint8_t result, std::uint8_t source, std::uint8_t reason) {
  const char body[4] = {'\0', static_cast<char>(result), static_cast<char>(source), static_cast<char>(reason)};
  return pdu(PduType::associate_rj, std::string_view(body, 4));
}

std::string release_rp() { return pdu(PduType::release_rp, std::string(4, '\0')); }

std::string abort_pdu() { return pdu(PduType::abort, std::string(4, '\0')); }

base::Result<std::vector<Pdv>> parse_p_data(std::string_view body) {
  std::vector<Pdv> pdvs;
  std::size_t at = 0;
  while (at < body.size()) {
    if (body.size() - at < 6) return fail("bad_pdu", "a PDV header is cut short");
    const std::uint32_t length = be32(body, at);
    if (length < 2 || body.size() - at - 4 < length) return fail("bad_pdu", "a PDV runs past its PDU");
    const auto control = static_cast<unsigned char>(body[at + 5]);
    pdvs.push_back({static_cast<std::uint8_t>(body[at + 4]), (control & 1U) != 0, (control & 2U) != 0,
                    body.substr(at + 6, length - 2)});
    at += 4 + std::size_t{length};
  }
  if (pdvs.empty()) return fail("bad_pdu", "a P-DATA-TF PDU holds no PDV");
  return pdvs;
}

std::string p_data(std::uint8_t context, bool command, bool last, std::string_view data) {
  std::string body;
  put_be32(body, static_cast<std::uint32_t>(data.size() + 2));
  body.push_back(static_cast<char>(context));
  body.push_back(static_cast<char>((command ? 1 : 0) | (last ? 2 : 0)));
  body.append(data);
  return pdu(PduType::p_data, body);
}

base::Result<Command> parse_command(std::string_view bytes) {
  Command command;
  bool has_field = false;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 8) return fail("bad_command", "a command element header is cut short");
    const std::uint16_t group = le16(bytes, at);
    const std::uint16_t element = le16(bytes, at + 2);
    const std::uint32_t length = le32(bytes, at + 4);
    if (group != 0x0000) return fail("bad_command", "a command set element is outside group 0000");
    if (bytes.size() - at - 8 < length) return fail("bad_command", "a command element runs past the command set");
    const std::string_view value = bytes.substr(at + 8, length);
    const bool us = length == 2;
    switch (element) {
      case 0x0002: command.sop_class = std::string(trim_uid(value)); break;
      case 0x1000: command.sop_instance = std::string(trim_uid(value)); break;
      case 0x0100:
        if (us) command.field = le16(value, 0), has_field = true;
        break;
      case 0x0110:
        if (us) command.message_id = le16(value, 0);
        break;
      case 0x0120:
        if (us) command.responded_to = le16(value, 0);
        break;
      case 0x0800:
        if (us) command.dataset_type = le16(value, 0);
        break;
      case 0x0900:
        if (us) command.status = le16(value, 0);
        break;
      default: break;
    }
    at += 8 + std::size_t{length};
  }
  if (!has_field) return fail("bad_command", "the command set has no Command Field (0000,0100)");
  return command;
}

std::string encode_command(const Command& command) {
  std::string elements;
  if (!command.sop_class.empty()) put_text(elements, 0x0002, command.sop_class, '\0');
  put_us(elements, 0x0100, command.field);
  if (command.message_id != 0 || (command.field & 0x8000U) == 0) put_us(elements, 0x0110, command.message_id);
  if ((command.field & 0x8000U) != 0) put_us(elements, 0x0120, command.responded_to);
  put_us(elements, 0x0800, command.dataset_type);
  if ((command.field & 0x8000U) != 0) put_us(elements, 0x0900, command.status);
  if (!command.error_comment.empty()) put_text(elements, 0x0902, command.error_comment.substr(0, 64), ' ');
  if (!command.sop_instance.empty()) put_text(elements, 0x1000, command.sop_instance, '\0');
  std::string out;
  std::string length;
  put_le32(length, static_cast<std::uint32_t>(elements.size()));
  put_element(out, 0x0000, length);
  out.append(elements);
  return out;
}

}  // namespace medgw::dicom
