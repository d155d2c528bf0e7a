#include <collectors/ssmix2_types.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace medgw::collectors {
namespace {

using C = CareDateField;

// data type, MSH-9 code, event, structure, 診療日 field, order?, dept in name?, cancel?
constexpr std::array<MessageKind, 36> kinds{{
    {"ADT-00", "ADT", "A08", "ADT_A01", C::none, false, false, false},
    {"ADT-00", "ADT", "A23", "ADT_A21", C::none, false, false, true},
    {"ADT-01", "ADT", "A54", "ADT_A54", C::none, false, true, false},
    {"ADT-01", "ADT", "A55", "ADT_A52", C::none, false, true, true},
    {"ADT-12", "ADT", "A04", "ADT_A01", C::pv1_44, false, true, false},
    {"ADT-21", "ADT", "A14", "ADT_A05", C::pv2_8, false, true, false},
    {"ADT-21", "ADT", "A27", "ADT_A21", C::pv2_8, false, true, true},
    {"ADT-22", "ADT", "A01", "ADT_A01", C::pv1_44, false, true, false},
    {"ADT-22", "ADT", "A11", "ADT_A09", C::pv1_44, false, true, true},
    {"ADT-31", "ADT", "A21", "ADT_A21", C::evn_6, false, true, false},
    {"ADT-31", "ADT", "A52", "ADT_A52", C::evn_6, false, true, true},
    {"ADT-32", "ADT", "A22", "ADT_A21", C::evn_6, false, true, false},
    {"ADT-32", "ADT", "A53", "ADT_A52", C::pv2_47, false, true, true},
    {"ADT-41", "ADT", "A15", "ADT_A15", C::pv2_8, false, true, false},
    {"ADT-41", "ADT", "A26", "ADT_A21", C::pv2_8, false, true, true},
    {"ADT-42", "ADT", "A02", "ADT_A02", C::evn_6, false, true, false},
    {"ADT-42", "ADT", "A12", "ADT_A12", C::evn_6, false, true, true},
    {"ADT-51", "ADT", "A16", "ADT_A16", C::pv2_9, false, true, false},
    {"ADT-51", "ADT", "A25", "ADT_A21", C::pv2_9, false, true, true},
    {"ADT-52", "ADT", "A03", "ADT_A03", C::pv1_45, false, true, false},
    {"ADT-52", "ADT", "A13", "ADT_A01", C::pv1_45, false, true, true},
    {"ADT-61", "ADT", "A60", "ADT_A60", C::none, false, false, false},
    {"PPR-01", "PPR", "ZD1", "PPR_ZD1", C::none, false, true, false},
    {"OMD", "OMD", "O03", "OMD_O03", C::orc_9, true, true, false},
    {"OMP-01", "RDE", "O11", "RDE_O11", C::orc_9, true, true, false},
    {"OMP-11", "RAS", "O17", "RAS_O17", C::rxa_3, true, true, false},
    {"OMP-02", "RDE", "O11", "RDE_O11", C::orc_9, true, true, false},
    {"OMP-12", "RAS", "O17", "RAS_O17", C::rxa_3, true, true, false},
    {"OML-01", "OML", "O33", "OML_O33", C::orc_9, true, true, false},
    {"OML-11", "OUL", "R22", "OUL_R22", C::spm_17, true, true, false},
    {"OMG-01", "OMG", "O19", "OMG_O19", C::orc_9, true, true, false},
    {"OMG-11", "OMI", "Z23", "OMI_Z23", C::obr_7, true, true, false},
    {"OMG-02", "OMG", "O19", "OMG_O19", C::orc_9, true, true, false},
    {"OMG-12", "OMI", "Z23", "OMI_Z23", C::obr_7, true, true, false},
    {"OMG-03", "OMG", "O19", "OMG_O19", C::orc_9, true, true, false},
    {"OMG-13", "ORU", "R01", "ORU_R01", C::obr_7, true, true, false},
}};

}  // namespace

std::span<const MessageKind> message_kinds() { return kinds; }

const MessageKind& message_kind(std::string_view data_type, bool cancel) {
  for (const MessageKind& kind : kinds) {
    if (kind.data_type == data_type && kind.cancel == cancel) return kind;
  }
  for (const MessageKind& kind : kinds) {
    if (kind.data_type == data_type) return kind;
  }
  throw std::invalid_argument("unknown SS-MIX2 data type");
}

bool is_standard_data_type(std::string_view data_type) {
  return std::any_of(kinds.begin(), kinds.end(), [&](const MessageKind& kind) { return kind.data_type == data_type; });
}

bool expected_message(std::string_view data_type, std::string_view code_event) {
  return std::any_of(kinds.begin(), kinds.end(), [&](const MessageKind& kind) {
    return kind.data_type == data_type && code_event.size() == kind.code.size() + 1 + kind.event.size() &&
           code_event.starts_with(kind.code) && code_event[kind.code.size()] == '^' && code_event.ends_with(kind.event);
  });
}

}  // namespace medgw::collectors
