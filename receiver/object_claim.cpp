#include <receiver/object_claim.hpp>

#include <receiver/identifiers.hpp>

#include <base/base64.hpp>

#include <algorithm>

namespace medgw::receiver {
namespace {

std::optional<std::string> decode_base64(std::string_view text) {
  auto bytes = base::base64_decode_padded(text);
  if (!bytes) bytes = base::base64_decode_canonical(text);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

base::Result<std::map<std::string, std::string>> parse_upload_metadata(std::string_view header) {
  std::map<std::string, std::string> out;
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view pair = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto space = pair.find(' ');
    const std::string key(pair.substr(0, space));
    std::string value;
    if (space != std::string_view::npos) {
      auto decoded = decode_base64(pair.substr(space + 1));
      if (!decoded) return base::fail("bad_metadata", "Upload-Metadata holds a value that is not base64");
      value = std::move(*decoded);
    }
    if (key.empty() || !out.emplace(key, std::move(value)).second) {
      return base::fail("bad_metadata", "Upload-Metadata has an empty or repeated key");
    }
  }
  return out;
}

base::Result<ObjectClaim> parse_object_claim(std::string_view header, const FacilityEntry& facility) {
  auto fields = parse_upload_metadata(header);
  if (!fields) return base::fail(fields.error());
  for (const char* required : {"object_id", "seq", "facility", "gateway", "sha256", "sig"}) {
    if (!fields->contains(required)) {
      return base::fail("missing_field", std::string("Upload-Metadata lacks ") + required);
    }
  }
  if (fields->at("facility") != facility.code) {
    return base::fail("facility_mismatch", "the facility metadata does not match the client certificate");
  }
  ObjectClaim claim;
  claim.facility = facility.code;
  claim.object_id = fields->at("object_id");
  if (!is_canonical_uuid(claim.object_id)) {
    return base::fail("bad_object_id", "object_id must be a lower-case UUID (8-4-4-4-12 hex digits)");
  }
  const auto seq = parse_seq(fields->at("seq"));
  if (!seq) return base::fail(seq.error());
  claim.seq = *seq;
  claim.sha256 = fields->at("sha256");
  if (!is_sha256_hex(claim.sha256)) return base::fail("bad_sha256", "sha256 must be 64 lower-case hex digits");
  const auto signature = decode_base64(fields->at("sig"));
  if (!signature || signature->size() != claim.signature.size()) {
    return base::fail("bad_signature", "sig must be a base64 Ed25519 signature (64 bytes)");
  }
  std::copy(signature->begin(), signature->end(), claim.signature.begin());
  return claim;
}

bool signed_by_gateway(const ObjectClaim& claim, const FacilityEntry& facility) {
  const std::string statement = crypto::object_statement(claim.object_id, claim.seq, claim.facility, claim.sha256);
  return std::any_of(facility.gateway_keys.begin(), facility.gateway_keys.end(), [&](const crypto::Ed25519PublicKey& key) {
    return crypto::verify_signature(key, base::as_bytes(statement), claim.signature);
  });
}

bool GatewaySignatures::signed_by_gateway(const ObjectClaim& claim, const FacilityEntry& facility) {
  const std::string statement = crypto::object_statement(claim.object_id, claim.seq, claim.facility, claim.sha256);
  // key || signature || statement: the whole input of one verification.
  auto verification = [&](const crypto::Ed25519PublicKey& key) {
    std::string out;
    out.reserve(key.size() + claim.signature.size() + statement.size());
    out.append(base::as_chars(key));
    out.append(base::as_chars(claim.signature));
    out.append(statement);
    return out;
  };
  for (const auto& key : facility.gateway_keys) {
    if (remembered(verification(key))) return true;
  }
  const std::size_t keys = facility.gateway_keys.size();
  const std::size_t first = first_key(facility);
  for (std::size_t i = 0; i < keys; ++i) {
    const std::size_t index = (first + i) % keys;
    const auto& key = facility.gateway_keys[index];
    if (crypto::verify_signature(key, base::as_bytes(statement), claim.signature)) {
      remember(verification(key));
      if (index != first) matched(facility, index);
      return true;
    }
  }
  return false;
}

std::size_t GatewaySignatures::first_key(const FacilityEntry& facility) const {
  std::lock_guard lock(mutex_);
  const auto found = last_match_.find(facility.code);
  return found != last_match_.end() && found->second < facility.gateway_keys.size() ? found->second : 0;
}

void GatewaySignatures::matched(const FacilityEntry& facility, std::size_t key) {
  std::lock_guard lock(mutex_);
  last_match_[facility.code] = key;
}

bool GatewaySignatures::remembered(const std::string& verified) const {
  std::lock_guard lock(mutex_);
  return verified_.contains(verified);
}

void GatewaySignatures::remember(std::string verified) {
  std::lock_guard lock(mutex_);
  if (capacity_ == 0 || verified_.contains(verified)) return;
  while (order_.size() >= capacity_) {
    verified_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(verified);
  verified_.insert(std::move(verified));
}

}  // namespace medgw::receiver
