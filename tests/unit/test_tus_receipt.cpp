// The central's receipts (daemon/delivery/receipt.hpp): what makes one check
// out, and the distinct failure codes the alarm is raised with.
#include <daemon/delivery/erasure_receipt.hpp>
#include <daemon/delivery/receipt.hpp>

#include <crypto/signing.hpp>

#include <base/base64.hpp>

#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace delivery = medgw::daemon;
using medgw::crypto::SigningKey;

namespace {

const std::string object_id = "0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
const std::string facility = "131234567";
const std::string sha256 = std::string(64, 'c');
const delivery::ReceiptSubject subject{object_id, 9, facility, sha256};

struct Fields {
  std::string object_id = ::object_id;
  std::uint64_t seq = 9;
  std::string facility = ::facility;
  std::string sha256 = ::sha256;
  std::string received_at = "2025-06-01T00:00:00Z";
};

// A receipt as medgw-receiver writes it, signed by `key` over `signed_fields`
// and carrying `fields`.
std::string receipt(const SigningKey& key, const Fields& fields, const Fields& signed_fields) {
  const auto signature = key.sign(medgw::base::as_bytes(
      medgw::crypto::receipt_statement(signed_fields.object_id, signed_fields.seq, signed_fields.facility,
                                       signed_fields.sha256, signed_fields.received_at)));
  return R"({"object_id":")" + fields.object_id + R"(","seq":)" + std::to_string(fields.seq) + R"(,"facility":")" +
         fields.facility + R"(","sha256":")" + fields.sha256 + R"(","received_at":")" + fields.received_at +
         R"(","signature":")" + medgw::base::base64_encode(signature, true) + R"("})";
}
std::string receipt(const SigningKey& key, const Fields& fields = {}) { return receipt(key, fields, fields); }

std::string failure_code(const medgw::base::Result<delivery::ReceiptCheck>& check) {
  return check ? std::string("ok") : check.error().code;
}

}  // namespace

TEST_CASE("receipt: signed by the central's key and naming the object - verified", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const auto check = delivery::verify_receipt(receipt(key), subject, key.public_key());
  REQUIRE(check);
  CHECK(*check == delivery::ReceiptCheck::verified);
}

TEST_CASE("receipt: without a receipt key only the names are checked - unverified", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const auto check = delivery::verify_receipt(receipt(key), subject, std::nullopt);
  REQUIRE(check);
  CHECK(*check == delivery::ReceiptCheck::unverified);
  CHECK(failure_code(delivery::verify_receipt(receipt(key, {.seq = 10}), subject, std::nullopt)) == "receipt_mismatch");
}

TEST_CASE("receipt: another object, seq, facility or sha256 does not match", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const Fields other = GENERATE(Fields{.object_id = "0190a0b0-0000-7000-8000-000000000000"}, Fields{.seq = 8},
                                Fields{.facility = "139999999"}, Fields{.sha256 = std::string(64, 'd')});
  // Signed correctly for what it says: the names are wrong, not the signature.
  CHECK(failure_code(delivery::verify_receipt(receipt(key, other), subject, key.public_key())) == "receipt_mismatch");
}

TEST_CASE("receipt: a signature by another key or over other fields is bad", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const SigningKey impostor = SigningKey::generate();
  CHECK(failure_code(delivery::verify_receipt(receipt(impostor), subject, key.public_key())) == "receipt_bad_signature");
  // received_at is signed too.
  CHECK(failure_code(delivery::verify_receipt(receipt(key, {}, Fields{.received_at = "2025-06-02T00:00:00Z"}), subject,
                                            key.public_key())) == "receipt_bad_signature");
  std::string truncated = receipt(key);
  truncated.replace(truncated.find(R"("signature":")") + 13, 4, "");  // not 64 bytes any more
  CHECK(failure_code(delivery::verify_receipt(truncated, subject, key.public_key())) == "receipt_bad_signature");
}

TEST_CASE("receipt: not JSON, or not the receipt document", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const std::string body = GENERATE(as<std::string>{}, "", "<html>ok</html>", R"({"object_id":")",
                                    R"({"object_id":"0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"})",
                                    R"({"object_id":"0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b","seq":"9"})");
  const auto check = delivery::verify_receipt(body, subject, key.public_key());
  CHECK(failure_code(check) == "receipt_not_json");
  // With a key, a receipt without its signature is not the document either.
  std::string unsigned_receipt = receipt(key);
  unsigned_receipt.replace(unsigned_receipt.find(R"(,"signature")"), std::string::npos, "}");
  CHECK(failure_code(delivery::verify_receipt(unsigned_receipt, subject, key.public_key())) == "receipt_not_json");
  CHECK(failure_code(delivery::verify_receipt(unsigned_receipt, subject, std::nullopt)) == "ok");
}

TEST_CASE("receipt key: central.receipt_key holds one line ed25519:<base64>", "[tus][receipt]") {
  medgw::test::TempDir dir;
  const SigningKey key = SigningKey::generate();
  medgw::test::write_file(dir / "receipt.pub", key.public_key_text() + "\n");
  const auto loaded = delivery::load_receipt_key(dir / "receipt.pub");
  REQUIRE(loaded);
  REQUIRE(*loaded);
  CHECK(**loaded == key.public_key());

  const auto none = delivery::load_receipt_key({});
  REQUIRE(none);
  CHECK_FALSE(*none);

  medgw::test::write_file(dir / "junk.pub", "not a key\n");
  for (const auto& file : {dir / "junk.pub", dir / "missing.pub"}) {
    const auto bad = delivery::load_receipt_key(file);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == "receipt_key_unreadable");
    CHECK_THAT(bad.error().message, Catch::StartsWith("central.receipt_key: " + file.string()));
  }
}

// ---- erasure receipts (issue 19: daemon/delivery/erasure_receipt.hpp) ----

namespace {

std::string erasure(const SigningKey& key, std::uint64_t signed_rows, std::uint64_t shown_rows,
                    const std::string& shown_object = object_id) {
  medgw::crypto::ErasureCounts counts{1, 2, 3, signed_rows, 5};
  const std::string erased_at = "2026-05-02T03:04:05Z";
  const auto signature =
      key.sign(medgw::base::as_bytes(medgw::crypto::erasure_statement(object_id, 9, facility, erased_at, counts)));
  return R"({"format":"medgw-erasure/1","object_id":")" + shown_object + R"(","seq":9,"facility":")" + facility +
         R"(","erased_at":")" + erased_at + R"(","patients":1,"ssmix2_folders":2,"files_rewritten":3,"dpc_rows":)" +
         std::to_string(shown_rows) + R"(,"receipts":5,"signature":")" + medgw::base::base64_encode(signature, true) +
         R"("})";
}

std::string code_of(const medgw::base::Result<delivery::ErasureConfirmation>& result) {
  return result ? std::string("ok") : result.error().code;
}

}  // namespace

TEST_CASE("erasure receipt: signed by the central's key over the object and counts - verified", "[tus][receipt]") {
  const SigningKey key = SigningKey::generate();
  const delivery::ErasureSubject erased{object_id, 9, facility};
  const auto confirmation = delivery::verify_erasure_receipt(erasure(key, 4, 4), erased, key.public_key());
  REQUIRE(confirmation);
  CHECK(confirmation->erased_at == "2026-05-02T03:04:05Z");
  CHECK(confirmation->counts.dpc_rows == 4);
  // A count changed after signing, another key, another object, not JSON: each refused with its code.
  const auto public_key = key.public_key();
  CHECK(code_of(delivery::verify_erasure_receipt(erasure(key, 4, 40), erased, public_key)) == "receipt_bad_signature");
  CHECK(code_of(delivery::verify_erasure_receipt(erasure(SigningKey::generate(), 4, 4), erased, public_key)) ==
        "receipt_bad_signature");
  CHECK(code_of(delivery::verify_erasure_receipt(erasure(key, 4, 4, "0190a0b0-1c2d-7e3f-8a4b-000000000000"), erased,
                                                 public_key)) == "receipt_mismatch");
  CHECK(code_of(delivery::verify_erasure_receipt("{", erased, public_key)) == "receipt_not_json");
}
