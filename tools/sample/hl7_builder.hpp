#pragma once
// HL7 v2.5 messages for the 36 SS-MIX2 message kinds (26 data types, ten of
// them with a cancel/delete variant), written in UTF-8 with CR segment ends;
// the caller encodes them to ISO-2022-JP.
#include <tools/sample/hospital.hpp>

#include <collectors/ssmix2_types.hpp>

#include <span>
#include <string>
#include <string_view>

namespace medgw::sample {

using collectors::CareDateField;
using collectors::message_kind;
using collectors::message_kinds;
using collectors::MessageKind;

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
