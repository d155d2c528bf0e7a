#pragma once
// The SS-MIX2 data types and their HL7 message kinds (domain.md §1.5, §1.6):
// 26 data types, ten of them with a cancel/delete variant - 36 kinds.
#include <span>
#include <string_view>

namespace medgw::collectors {

// Which message field gives the 診療日 folder (domain.md §1.6).
enum class CareDateField { none, pv1_44, pv2_8, pv2_9, pv1_45, evn_6, pv2_47, orc_9, rxa_3, spm_17, obr_7 };

struct MessageKind {
  std::string_view data_type;   // folder / file-name data type
  std::string_view code;        // MSH-9.1
  std::string_view event;       // MSH-9.2
  std::string_view structure;   // MSH-9.3
  CareDateField care_date;
  bool has_order;               // an order number in the file name, else 15 nines
  bool department_in_name;      // else "-"
  bool cancel;                  // the cancel/delete variant of its data type
};

[[nodiscard]] std::span<const MessageKind> message_kinds();
// The kind of `data_type` (its cancel variant if asked and present); throws
// std::invalid_argument for an unknown data type.
[[nodiscard]] const MessageKind& message_kind(std::string_view data_type, bool cancel = false);
// Whether the data type is one of the 26 standard ones.
[[nodiscard]] bool is_standard_data_type(std::string_view data_type);
// Whether "code^event" is a message kind of `data_type`.
[[nodiscard]] bool expected_message(std::string_view data_type, std::string_view code_event);

}  // namespace medgw::collectors
