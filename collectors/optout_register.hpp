#pragma once
// Keeps the gateway's register of opted-out patients in step with the
// hospital's list, before each round of collection passes:
//
// - a patient newly on the list, once anything has been sent, gets one
//   `withdraw` manifest entry (patient ID, DPC ID, request date: inside the
//   encrypted object only), so the central deletes what it holds of them; in
//   the transaction that records that object, the file-index rows under the
//   patient's folders are released, so nothing of theirs counts as sent;
// - a patient taken off the list is forgotten: their files are new again and
//   the next passes collect them all, including what arrived meanwhile.
//
// The register holds keyed hashes only (PatientTagger::digest), never IDs.
#include <collectors/policy.hpp>
#include <collectors/source_profile.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <crypto/patient_tag.hpp>

#include <base/log.hpp>

#include <span>
#include <string>

namespace medgw::collectors {

// A source whose files are filed by patient (SS-MIX2 standard and extended).
struct PatientSource {
  std::string source;  // the label in the file index
  const SourceProfile* profile = nullptr;
};

struct RegisterUpdate {
  std::size_t listed = 0;     // entries on the list now
  std::size_t newly_listed = 0;
  std::size_t withdrawn = 0;  // withdraw entries spooled
  std::size_t resumed = 0;    // taken off the list
  std::uint64_t index_rows_released = 0;
  bool paused = false;        // the spool refused the withdraw object: retried next time
  std::string pause_reason;
};

inline constexpr std::string_view withdraw_source = "policy";

[[nodiscard]] RegisterUpdate update_optout_register(spool::StateDb& state, spool::Spool& spool,
                                                    const PatientPolicy& policy,
                                                    std::span<const PatientSource> patient_sources,
                                                    const crypto::PatientTagger& tagger, log::Logger& logger,
                                                    const spool::Clock& clock);

}  // namespace medgw::collectors
