#pragma once
// "Late rows" (issue 19): the DPC rows and receipts that were left out of a
// file's copy because their patient's notice period had not passed
// (`notice_held_rows`) are sent once the patient is eligible, as a copy of
// the file holding only their rows - a new entry `<path>.late-<YYYYMMDD>-<8
// hex>` whose manifest meta names the original (`late_rows_of`) so the
// central can merge it; a filtered UKE copy is renumbered and its GO totals
// recomputed, so it passes the same integrity rules. The held rows are
// forgotten in the transaction that records the object: nothing goes twice.
// Rows of a patient who opted out meanwhile are forgotten, never sent.
#include <collectors/policy.hpp>
#include <collectors/source_profile.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <base/log.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace medgw::collectors {

struct LateRowsOutcome {
  std::uint64_t files = 0;     // late copies spooled
  std::uint64_t patients = 0;  // patient-file pairs sent
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;
  bool paused = false;         // the spool refused: tried again after the next pass
  std::string pause_reason;
};

[[nodiscard]] LateRowsOutcome send_late_rows(spool::StateDb& state, spool::Spool& spool, const std::string& source,
                                             const std::filesystem::path& root, const SourceProfile& profile,
                                             const std::shared_ptr<const PatientPolicy>& policy, log::Logger& logger);

}  // namespace medgw::collectors
