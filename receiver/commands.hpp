#pragma once
// medgw-receiver's operator commands that work on receiver.db, with or
// without the receiver running: status, landing retry|skip.
#include <receiver/receiver_config.hpp>

#include <cstdint>
#include <string>

namespace medgw::receiver {

// Facilities, objects, seq gaps, landing (quarantined objects, a paused
// landing), as text or JSON. Exit code 0.
int command_status(const ReceiverConfig& config, bool json);

// `landing retry|skip SEQ --facility CODE`. Exit 0, 1 (not possible: says
// why), 2 (usage).
int command_landing(const ReceiverConfig& config, const std::string& action, const std::string& seq,
                    const std::string& facility);

// `patient-tag ID`: the receiver's pt:xxxxxxxx for a patient ID, to match a
// log line to a patient (only the tag is printed).
int command_patient_tag(const ReceiverConfig& config, const std::string& patient_id);

}  // namespace medgw::receiver
