#pragma once
// What an upload says it is (tus Upload-Metadata, DESIGN.md §6): parsed and
// validated once, at POST. The facility is the client certificate's, never
// the client's word; the metadata must only agree with it.
#include <receiver/receiver_config.hpp>

#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

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

// signed_by_gateway, remembering the signatures found valid. An upload's claim
// is checked at POST and again when its last byte arrives; an Ed25519
// verification costs ~70 µs, a good part of a small object's CPU at the
// receiver. What is remembered is the whole input of a successful
// verification (key, statement, signature), compared in full, so the answer
// is the same as verifying again; the keys asked for are still the
// facility's keys of the moment. Bounded (oldest forgotten first: a
// forgotten one is verified again). A facility listing several keys (two
// gateways, or a key being replaced) has the key that matched last tried
// first. Safe to use from several threads.
class GatewaySignatures {
 public:
  explicit GatewaySignatures(std::size_t capacity = 4096) : capacity_(capacity) {}
  [[nodiscard]] bool signed_by_gateway(const ObjectClaim& claim, const FacilityEntry& facility);

 private:
  [[nodiscard]] bool remembered(const std::string& verified) const;
  void remember(std::string verified);
  [[nodiscard]] std::size_t first_key(const FacilityEntry& facility) const;
  void matched(const FacilityEntry& facility, std::size_t key);
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t, std::less<>> last_match_;  // facility code -> index in its gateway_keys
  std::unordered_set<std::string> verified_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace medgw::receiver
