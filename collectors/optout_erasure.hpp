#pragma once
// The central's confirmations of withdrawals (issue 19): a withdraw object,
// once delivered and landed, is answered by a signed erasure receipt
// (GET <central.url>erasures/<object_id>); the delivery job fetches and
// verifies it and records it here, on the opt-out register's rows of the
// patients that object withdrew. `medgw optout check` reads it back.
// Rows are found by keyed hash and object ID: no patient ID is involved.
#include <base/sqlite.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

struct WithdrawObject {
  std::string object_id;
  std::uint64_t seq = 0;
};

// Withdraw objects delivered to the central (no longer in the spool) whose
// erasure is not confirmed yet, oldest first.
[[nodiscard]] std::vector<WithdrawObject> erasures_to_confirm(base::Database& db);

// The central's verified receipt: every patient the object withdrew is erased.
void record_erasure(base::Database& db, std::string_view object_id, std::string_view erased_at,
                    std::string_view receipt_json);

struct WithdrawalState {
  std::optional<std::uint64_t> withdraw_seq;  // nullopt: listed before anything was sent (nothing to erase)
  std::string erased_at;                      // RFC 3339 from the receipt; empty while not confirmed
};

// The register's row of a patient (by PatientTagger::digest), if listed.
[[nodiscard]] std::optional<WithdrawalState> withdrawal_of(base::Database& db, std::string_view patient_key);

}  // namespace medgw::collectors
