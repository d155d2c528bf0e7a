#pragma once
// The central's signed receipt for a delivered object (DESIGN.md §6):
//   {"object_id", "seq", "facility", "sha256", "received_at", "signature"}
// where `signature` is the base64 Ed25519 signature, by the central's receipt
// key (central.receipt_key), over crypto::receipt_statement.
#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::daemon {

// What the receipt must name: the object the gateway sent.
struct ReceiptSubject {
  std::string_view object_id;
  std::uint64_t seq = 0;
  std::string_view facility;
  std::string_view sha256;  // of the age file, hex
};

// How far a receipt that checks out was checked.
enum class ReceiptCheck {
  verified,    // it names the object and the central's key signed it
  unverified,  // it names the object; no central.receipt_key to check the signature with
};

// Failure codes of verify_receipt (stable: tests and logs match on them).
inline constexpr std::string_view receipt_not_json = "receipt_not_json";  // malformed, or a field missing or mistyped
inline constexpr std::string_view receipt_mismatch = "receipt_mismatch";  // another object, seq, facility or sha256
inline constexpr std::string_view receipt_bad_signature = "receipt_bad_signature";

// Checks `json` against the object sent; the signature only when `key` is
// given.
[[nodiscard]] base::Result<ReceiptCheck> verify_receipt(std::string_view json, const ReceiptSubject& subject,
                                                        const std::optional<crypto::Ed25519PublicKey>& key);

// The central's receipt key from central.receipt_key (one line
// "ed25519:<base64>"); nullopt when the setting is empty.
[[nodiscard]] base::Result<std::optional<crypto::Ed25519PublicKey>> load_receipt_key(const std::filesystem::path& file);

}  // namespace medgw::daemon
