#pragma once
// HL7 v2.5 messages for the 36 SS-MIX2 message kinds (26 data types, ten of
// them with a cancel/delete variant), written in UTF-8 with CR segment ends;
// the caller encodes them to ISO-2022-JP.
#include <tools/sample/hospital.hpp>

#include <span>
#include <string>
#include <string_view>

namespace medgw::sample {

// Which message field gives the 診療日 folder (domain.md §1.6).
enum class CareDateField { none, pv1_44, pv2_8, pv2_9, pv1_45, evn_6, pv2_47, orc_9, rxa_3, spm_17, obr_7 };

struct MessageKind {
  std::string_view data_type;   // folder / file-name data type
  std::string_view code;        // MSH-9.1
  std::string_view event;       // MSH-9.2
  std::string_view structure;   // MSH-9.3
  CareDateField care_date;
  bool has_order;               // order number in the file name, else 15 nines
  bool department_in_name;      // else "-"
  bool cancel;                  // the cancel/delete variant of its data type
};

[[nodiscard]] std::span<const MessageKind> message_kinds();
[[nodiscard]] const MessageKind& message_kind(std::string_view data_type, bool cancel = false);

struct Encounter {
  LocalTime event;       // when it happened (drives the 診療日)
  LocalTime sent;        // 発生日時: when the message was written
  Department department;
  const Doctor* doctor = nullptr;
  bool inpatient = false;
  std::string ward;
  std::string room;
  std::string order_no;  // 15 digits, or 15 nines
  bool order_cancel = false;  // ORC-1 "CA": the message that deletes an order
};

// The message text; `variant` varies content (drugs, tests...) deterministically.
[[nodiscard]] std::string build_message(const Hospital& hospital, const Patient& patient, const MessageKind& kind,
                                        const Encounter& encounter, Rng& rng);

// As above with a prepared PID segment (used by --mutate, which re-uses the
// patient's existing PID).
[[nodiscard]] std::string build_message_with_pid(const Hospital& hospital, std::string_view pid_segment,
                                                 const MessageKind& kind, const Encounter& encounter, Rng& rng);

[[nodiscard]] std::string pid_segment(const Patient& patient, bool full);

}  // namespace medgw::sample
