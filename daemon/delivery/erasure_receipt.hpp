#pragma once
// The central's signed erasure receipt for a withdraw object (issue 19;
// docs/architecture.md "Erasure receipts"):
//   {"format": "medgw-erasure/1", "object_id", "seq", "facility", "erased_at",
//    "patients", "ssmix2_folders", "files_rewritten", "dpc_rows", "receipts",
//    "signature"}
// `signature`: base64 Ed25519, by the central's receipt key
// (central.receipt_key), over crypto::erasure_statement. Counts only: the
// receipt names no patient.
#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace medgw::daemon {

struct ErasureSubject {
  std::string_view object_id;
  std::uint64_t seq = 0;
  std::string_view facility;
};

struct ErasureConfirmation {
  std::string erased_at;  // RFC 3339
  crypto::ErasureCounts counts;
};

// Failure codes: receipt_not_json, receipt_mismatch, receipt_bad_signature (receipt.hpp).
[[nodiscard]] base::Result<ErasureConfirmation> verify_erasure_receipt(std::string_view json,
                                                                       const ErasureSubject& subject,
                                                                       const crypto::Ed25519PublicKey& key);

}  // namespace medgw::daemon
