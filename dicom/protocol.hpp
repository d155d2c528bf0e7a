#pragma once
// The DICOM upper layer (PS3.8) and DIMSE command sets (PS3.7) as far as a
// storage SCP needs them: A-ASSOCIATE-RQ read, -AC/-RJ written, P-DATA-TF
// split into PDVs, release and abort, and the C-STORE/C-ECHO command sets
// (group 0000, implicit VR little endian). Pure functions over bytes: the
// server (store_scp.hpp) owns sockets and files. Every length read from the
// peer is checked against what holds it; a malformed PDU is an Error, never
// a read out of bounds.
#include <base/result.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::dicom {

inline constexpr std::string_view application_context_uid = "1.2.840.10008.3.1.1.1";
inline constexpr std::string_view verification_class_uid = "1.2.840.10008.1.1";
inline constexpr std::string_view implicit_le_uid = "1.2.840.10008.1.2";
inline constexpr std::string_view explicit_le_uid = "1.2.840.10008.1.2.1";
// Our implementation class UID (2.25 + a fixed random 128-bit number) and name.
inline constexpr std::string_view implementation_class_uid = "2.25.190146791927347185235786437154823651957";
inline constexpr std::string_view implementation_version = "MEDGW";

enum class PduType : std::uint8_t {
  associate_rq = 1,
  associate_ac = 2,
  associate_rj = 3,
  p_data = 4,
  release_rq = 5,
  release_rp = 6,
  abort = 7,
};

struct ProposedContext {
  std::uint8_t id = 0;
  std::string abstract_syntax;
  std::vector<std::string> transfer_syntaxes;
};

struct AssociateRequest {
  std::string called_ae;   // blanks trimmed
  std::string calling_ae;  // blanks trimmed
  std::string application_context;
  std::vector<ProposedContext> contexts;
  std::uint32_t max_pdu = 0;  // the peer's maximum P-DATA length; 0 = no limit
};

// The variable part of an A-ASSOCIATE-RQ (after the 6-byte PDU header).
[[nodiscard]] base::Result<AssociateRequest> parse_associate_rq(std::string_view body);

enum class ContextResult : std::uint8_t { accepted = 0, abstract_syntax_unsupported = 3, transfer_syntax_unsupported = 4 };

struct ContextAnswer {
  std::uint8_t id = 0;
  ContextResult result = ContextResult::accepted;
  std::string transfer_syntax;  // accepted: the one chosen
  std::string abstract_syntax;  // what was proposed (not sent back)
};

// Whole PDUs, header included.
[[nodiscard]] std::string associate_ac(const AssociateRequest& request, std::span<const ContextAnswer> answers,
                                       std::uint32_t max_pdu);
// PS3.8 9.3.4: result 1 permanent / 2 transient; source 1 service user,
// 2 ACSE provider, 3 presentation provider; reason per source.
[[nodiscard]] std::string associate_rj(std::uint8_t result, std::uint8_t source, std::uint8_t reason);
[[nodiscard]] std::string release_rp();
[[nodiscard]] std::string abort_pdu();

struct Pdv {
  std::uint8_t context = 0;
  bool command = false;
  bool last = false;
  std::string_view data;
};

// The PDV items of a P-DATA-TF body.
[[nodiscard]] base::Result<std::vector<Pdv>> parse_p_data(std::string_view body);
// One P-DATA-TF PDU holding one PDV.
[[nodiscard]] std::string p_data(std::uint8_t context, bool command, bool last, std::string_view data);

inline constexpr std::uint16_t c_store_rq = 0x0001;
inline constexpr std::uint16_t c_store_rsp = 0x8001;
inline constexpr std::uint16_t c_echo_rq = 0x0030;
inline constexpr std::uint16_t c_echo_rsp = 0x8030;
inline constexpr std::uint16_t no_dataset = 0x0101;

// DIMSE statuses a storage SCP answers with.
inline constexpr std::uint16_t status_success = 0x0000;
inline constexpr std::uint16_t status_out_of_resources = 0xA700;
inline constexpr std::uint16_t status_not_sop_class = 0xA900;   // data set does not match SOP class
inline constexpr std::uint16_t status_cannot_understand = 0xC000;
inline constexpr std::uint16_t status_unrecognized_operation = 0x0211;
inline constexpr std::uint16_t status_sop_class_not_supported = 0x0122;

struct Command {
  std::uint16_t field = 0;
  std::uint16_t message_id = 0;
  std::uint16_t responded_to = 0;
  std::uint16_t dataset_type = no_dataset;
  std::uint16_t status = 0;
  std::string sop_class;     // Affected SOP Class UID
  std::string sop_instance;  // Affected SOP Instance UID
  std::string error_comment;
};

[[nodiscard]] base::Result<Command> parse_command(std::string_view bytes);
// A response command set (implicit VR little endian, with its group length).
[[nodiscard]] std::string encode_command(const Command& command);

// A UID value: trailing NUL/blank padding removed.
[[nodiscard]] std::string_view trim_uid(std::string_view value);
// Whether `text` is a plausible UID: 1-64 characters of digits and dots.
[[nodiscard]] bool valid_uid(std::string_view text);

}  // namespace medgw::dicom
