#pragma once
// What an upload says it is (tus Upload-Metadata, DESIGN.md §6): parsed and
// validated once, at POST. The facility is the client certificate's, never
// the client's word; the metadata must only agree with it.
#include <receiver/receiver_config.hpp>

#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace medgw::receiver {

struct ObjectClaim {
  std::string object_id;  // canonical lower-case UUID
  std::uint64_t seq = 0;  // 1 .. 2^63-1
  std::string facility;   // the client certificate's facility
  std::string sha256;     // 64 lower-case hex digits: the age file's
  crypto::Ed25519Signature signature{};
};

// Upload-Metadata: "key base64,key base64" (tus 1.0 creation). Keys are
// unique; values are base64 (padded or not).
[[nodiscard]] base::Result<std::map<std::string, std::string>> parse_upload_metadata(std::string_view header);

// The claim of an upload by a client of `facility`. Failure codes:
// bad_metadata, missing_field, facility_mismatch, bad_object_id, bad_seq,
// bad_sha256, bad_signature.
[[nodiscard]] base::Result<ObjectClaim> parse_object_claim(std::string_view header, const FacilityEntry& facility);

// Whether one of the facility's gateway keys signed the claim.
[[nodiscard]] bool signed_by_gateway(const ObjectClaim& claim, const FacilityEntry& facility);

}  // namespace medgw::receiver
