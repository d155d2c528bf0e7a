#pragma once
// medgw-receiver's operator commands that work on receiver.db, with or
// without the receiver running: status, landing retry|skip, backup list|forget.
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

// `backup list --facility CODE`: the facility's backup snapshots (from the
// clear signed pack lists) and what its backup area holds of its quota.
// Exit 0, 1 (no backup area or repository).
int command_backup_list(const ReceiverConfig& config, const std::string& facility);

// `backup forget --facility CODE --keep-daily N --keep-monthly N [--dry-run]`:
// retention of the facility's backup at the central, with no key
// (backupstore/forget.hpp). Exit 0, 1 (busy or failed), 2 (usage).
int command_backup_forget(const ReceiverConfig& config, const std::string& facility, unsigned keep_daily,
                          unsigned keep_monthly, bool dry_run);

}  // namespace medgw::receiver
