#pragma once
// The append-only audit of the hospital's policy files (issue 19): every
// version of the opt-out list and of the notice register the gateway loaded,
// with what changed (patients by keyed tag, never by ID), when, and the
// file's SHA-256, in `policy_audit` (collectors migration 3). Each row's hash
// covers the row and the hash of the row before, so an edited, removed or
// reordered row breaks the chain from there on (`medgw audit verify`).
//
// The chain is plain SHA-256: it shows tampering by anyone who does not
// rewrite every later row too. Triggers refuse UPDATE and DELETE.
#include <base/sqlite.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::collectors {

inline constexpr std::string_view audit_optout_list = "optout_list";
inline constexpr std::string_view audit_notice_register = "notice_register";

// A file's content as audited: per patient, keyed by PatientTagger::digest
// (raw bytes), a hash of that patient's whole entry (so a changed date or
// name shows as "changed").
using AuditedEntries = std::map<std::string, std::string>;

// The hash of one entry's fields (raw SHA-256 of the fields joined by 0x1F).
[[nodiscard]] std::string audit_entry_hash(std::initializer_list<std::string_view> fields);

// Appends a row when `file_sha256` differs from the last row of `subject`
// (nothing when the same file is loaded again). Returns the new row's seq.
std::optional<std::int64_t> record_policy_version(base::Database& db, std::string_view subject,
                                                  std::string_view file_sha256, const AuditedEntries& entries,
                                                  std::int64_t at_ms);

struct AuditVerification {
  std::uint64_t rows = 0;
  std::optional<std::int64_t> first_bad_seq;  // the first row whose hash or link does not check out
  std::string problem;                         // what is wrong with it (no patient data)
  std::string head;                            // the last row's hash (hex), to note down elsewhere
  [[nodiscard]] bool ok() const noexcept { return !first_bad_seq.has_value(); }
};

[[nodiscard]] AuditVerification verify_policy_audit(base::Database& db);

}  // namespace medgw::collectors
