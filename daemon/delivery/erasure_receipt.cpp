#include <daemon/delivery/erasure_receipt.hpp>

#include <daemon/delivery/receipt.hpp>

#include <base/base64.hpp>
#include <base/json_reader.hpp>

#include <algorithm>

namespace medgw::daemon {

base::Result<ErasureConfirmation> verify_erasure_receipt(std::string_view json, const ErasureSubject& subject,
                                                         const crypto::Ed25519PublicKey& key) {
  try {
    const base::JsonValue receipt = base::JsonValue::parse(json);
    if (receipt.string_at("format") != "medgw-erasure/1" || receipt.string_at("object_id") != subject.object_id ||
        receipt.uint_at("seq") != subject.seq || receipt.string_at("facility") != subject.facility) {
      return base::fail(std::string(receipt_mismatch), "the erasure receipt names another object, seq or facility");
    }
    ErasureConfirmation confirmation;
    confirmation.erased_at = receipt.string_at("erased_at");
    crypto::ErasureCounts& counts = confirmation.counts;
    counts.patients = receipt.uint_at("patients");
    counts.ssmix2_folders = receipt.uint_at("ssmix2_folders");
    counts.files_rewritten = receipt.uint_at("files_rewritten");
    counts.dpc_rows = receipt.uint_at("dpc_rows");
    counts.receipts = receipt.uint_at("receipts");
    const auto signature = base::base64_decode_padded(receipt.string_at("signature"));
    crypto::Ed25519Signature bytes{};
    const std::string statement =
        crypto::erasure_statement(subject.object_id, subject.seq, subject.facility, confirmation.erased_at, counts);
    if (signature && signature->size() == bytes.size()) std::copy(signature->begin(), signature->end(), bytes.begin());
    if (!signature || signature->size() != bytes.size() ||
        !crypto::verify_signature(key, base::as_bytes(statement), bytes)) {
      return base::fail(std::string(receipt_bad_signature), "the erasure receipt is not signed by central.receipt_key");
    }
    return confirmation;
  } catch (const base::JsonError&) {
    return base::fail(std::string(receipt_not_json), "the erasure receipt is not valid JSON");
  }
}

}  // namespace medgw::daemon
