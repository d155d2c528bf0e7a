#pragma once
// Ed25519 signatures of spooled objects (DESIGN.md §5): the gateway signs
//   "medgw-object/1\n<object_id>\n<seq>\n<facility>\n<sha256 of the age file, hex>\n"
// with a key generated on first use in state_dir (mode 0600).
#include <crypto/secure_bytes.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <optional>
#include <string_view>

struct evp_pkey_st;

namespace medgw::crypto {

using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;

class SigningKey {
 public:
  static constexpr std::string_view file_name = "signing.key";

  [[nodiscard]] static SigningKey generate();
  // Loads `file`, creating it on first use (concurrent first users agree).
  [[nodiscard]] static SigningKey load_or_create(const std::filesystem::path& file);
  [[nodiscard]] static SigningKey from_seed(ByteView seed);

  [[nodiscard]] Ed25519Signature sign(ByteView message) const;
  [[nodiscard]] const Ed25519PublicKey& public_key() const noexcept { return public_key_; }
  // "ed25519:<base64 public key>", the form receiver.yaml lists gateways by.
  [[nodiscard]] std::string public_key_text() const;

 private:
  SigningKey(SecureBytes seed, Ed25519PublicKey public_key, std::shared_ptr<evp_pkey_st> key);
  SecureBytes seed_;
  Ed25519PublicKey public_key_;
  // The key as OpenSSL holds it, made once: loading it from the seed derives
  // the public key, as costly as a signature. Shared by copies; signing with
  // it from several threads at once is safe (each sign has its own context).
  std::shared_ptr<evp_pkey_st> key_;
};

[[nodiscard]] bool verify_signature(const Ed25519PublicKey& key, ByteView message, const Ed25519Signature& signature);

// What a central's receipt signs (DESIGN.md §6):
//   "medgw-receipt/1\n<object_id>\n<seq>\n<facility>\n<sha256 hex>\n<received_at RFC 3339>\n"
[[nodiscard]] std::string receipt_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                                            std::string_view age_sha256_hex, std::string_view received_at);
// What the central's erasure receipt signs (docs/architecture.md, "Erasure
// receipts"): that the patients withdrawn by one object are erased from
// everything the central holds of the facility, with the counts of what went:
//   "medgw-erasure/1\n<object_id>\n<seq>\n<facility>\n<erased_at RFC 3339>\n<patients>\n
//    <ssmix2 folders>\n<claims files rewritten>\n<DPC rows>\n<receipts>\n"
struct ErasureCounts {
  std::uint64_t patients = 0;
  std::uint64_t ssmix2_folders = 0;   // patient folders removed from SS-MIX2 trees
  std::uint64_t files_rewritten = 0;  // DPC and UKE files rewritten without them
  std::uint64_t dpc_rows = 0;
  std::uint64_t receipts = 0;
};
[[nodiscard]] std::string erasure_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                                            std::string_view erased_at, const ErasureCounts& counts);
// "ed25519:<base64>" (SigningKey::public_key_text) back to a key.
[[nodiscard]] std::optional<Ed25519PublicKey> parse_public_key_text(std::string_view text);
[[nodiscard]] std::string object_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                                           std::string_view age_sha256_hex);

}  // namespace medgw::crypto
