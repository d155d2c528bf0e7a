#include <daemon/delivery/receipt.hpp>

#include <base/text.hpp>

#include <base/base64.hpp>
#include <base/json_reader.hpp>

#include <algorithm>
#include <fstream>

namespace medgw::daemon {
namespace {

bool names_subject(const base::JsonValue& receipt, const ReceiptSubject& subject) {
  return receipt.string_at("object_id") == subject.object_id && receipt.uint_at("seq") == subject.seq &&
         receipt.string_at("facility") == subject.facility && receipt.string_at("sha256") == subject.sha256;
}

bool signed_by(const base::JsonValue& receipt, const ReceiptSubject& subject, const crypto::Ed25519PublicKey& key) {
  const auto signature = base::base64_decode_padded(receipt.string_at("signature"));
  crypto::Ed25519Signature bytes{};
  if (!signature || signature->size() != bytes.size()) return false;
  std::copy(signature->begin(), signature->end(), bytes.begin());
  const std::string statement = crypto::receipt_statement(subject.object_id, subject.seq, subject.facility,
                                                          subject.sha256, receipt.string_at("received_at"));
  return crypto::verify_signature(key, base::as_bytes(statement), bytes);
}

}  // namespace

base::Result<ReceiptCheck> verify_receipt(std::string_view json, const ReceiptSubject& subject,
                                          const std::optional<crypto::Ed25519PublicKey>& key) {
  // A field that is missing or of another kind makes it "not JSON" as well:
  // it is not the receipt document.
  try {
    const base::JsonValue receipt = base::JsonValue::parse(json);
    if (!names_subject(receipt, subject)) {
      return base::fail(std::string(receipt_mismatch), "the receipt names another object, seq, facility or sha256");
    }
    if (!key) return ReceiptCheck::unverified;
    if (!signed_by(receipt, subject, *key)) {
      return base::fail(std::string(receipt_bad_signature), "the receipt is not signed by central.receipt_key");
    }
    return ReceiptCheck::verified;
  } catch (const base::JsonError& error) {
    return base::fail(std::string(receipt_not_json), std::string("the receipt is not valid JSON: ") + error.what());
  }
}

base::Result<std::optional<crypto::Ed25519PublicKey>> load_receipt_key(const std::filesystem::path& file) {
  if (file.empty()) return std::optional<crypto::Ed25519PublicKey>();
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  const std::optional<crypto::Ed25519PublicKey> key = crypto::parse_public_key_text(base::trim_blanks(text));
  if (!key) {
    return base::fail("receipt_key_unreadable", "central.receipt_key: " + file.string() +
                                                    " does not hold the central's receipt key (one line ed25519:<base64>)");
  }
  return key;
}

}  // namespace medgw::daemon
