#pragma once
// The second net under everything a support bundle carries (medgw's own log
// lines already name patients only by keyed tags): text is rewritten so that
// nothing shaped like patient data survives, whoever wrote it.
//
//  - values the configuration marks (phi_path, secret) and secret-looking
//    values, wherever they appear: replaced by the mark;
//  - patient IDs known to this gateway (the file index, the opt-out list):
//    replaced by their keyed tag pt:xxxxxxxx;
//  - SS-MIX2 path shapes (ddd/ddd/ID/... folder triples, ID_date_type_...
//    file names) and HL7 component lists (A^B): <redacted:path>, <redacted:hl7>;
//  - any run of kana, kanji or full-width characters, even one: <redacted:name>
//    (names); other non-ASCII text: <redacted:text>; bytes that are not UTF-8
//    (CP932 ...) and ISO-2022-JP escapes: <redacted:bytes>, <redacted:jis>;
//  - digit runs of 6 or more (IDs, DPC IDs, dates of birth, phone numbers):
//    <redacted:number>, except timestamps, UUIDs, hashes, tags and the values
//    of medgw's own numeric log fields (bytes=, seq=, duration_ms= ...).
// Output is always valid UTF-8 without control characters but tab.
#include <crypto/patient_tag.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace medgw::daemon {

class Redactor {
 public:
  explicit Redactor(std::shared_ptr<const crypto::PatientTagger> tagger);

  // IDs shorter than 4 characters are not worth a tag (digit rules still apply).
  void add_patient_id(std::string_view id);
  // Every occurrence of `value` (at least 3 bytes) becomes `replacement`.
  void add_literal(std::string value, std::string replacement);
  // A value known to be safe that the digit rules would take (the facility
  // code): kept where it stands alone as a word.
  void keep(std::string_view word);
  [[nodiscard]] std::size_t patient_ids() const noexcept { return ids_.size(); }

  [[nodiscard]] std::string tag(std::string_view value) const { return tagger_->tag(value); }
  // One line (without its '\n').
  [[nodiscard]] std::string line(std::string_view text) const;
  // Line by line; keeps the line ends.
  [[nodiscard]] std::string text(std::string_view text) const;
  // JSON: string values and keys redacted, numbers, booleans and structure
  // kept; text that does not parse is redacted as text.
  [[nodiscard]] std::string json(std::string_view json) const;
  // Prometheus text: sample values kept, names and labels redacted.
  [[nodiscard]] std::string metrics(std::string_view text) const;

 private:
  void scan(std::string_view text, std::string& out) const;
  void ascii_token(std::string_view token, std::string_view key, std::string& out) const;
  void words(std::string_view token, std::string_view key, std::string& out) const;

  std::shared_ptr<const crypto::PatientTagger> tagger_;
  std::unordered_set<std::string> ids_;
  std::unordered_set<std::string> kept_;
  std::vector<std::pair<std::string, std::string>> literals_;  // longest first
};

// A value that may be a credential: key material, user:password@ in a URL,
// password=/token= forms, or a long random-looking token (age recipients and
// SPKI pins are public and not counted).
[[nodiscard]] bool looks_secret(std::string_view value);

}  // namespace medgw::daemon
