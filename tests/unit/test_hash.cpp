#include <crypto/hash.hpp>
#include <crypto/secure_bytes.hpp>

#include <base/hex.hpp>

#include <catch2/catch.hpp>

using namespace medgw::crypto;
namespace base = medgw::base;

TEST_CASE("SHA-256 known answers", "[crypto]") {
  CHECK(base::to_hex(sha256(as_bytes(""))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(base::to_hex(sha256(as_bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 streaming;
  streaming.update("a");
  streaming.update("bc");
  CHECK(base::to_hex(streaming.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  streaming.reset();
  CHECK(base::to_hex(streaming.finish()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("HMAC-SHA256 RFC 4231 test cases 1 and 2", "[crypto]") {
  const std::vector<std::uint8_t> key1(20, 0x0b);
  CHECK(base::to_hex(hmac_sha256(key1, as_bytes("Hi There"))) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(base::to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("hex round trip and rejects", "[crypto]") {
  const std::vector<std::uint8_t> bytes{0x00, 0x7f, 0x80, 0xff};
  CHECK(base::to_hex(bytes) == "007f80ff");
  CHECK(base::from_hex("007F80ff") == bytes);
  CHECK_FALSE(base::from_hex("abc"));
  CHECK_FALSE(base::from_hex("zz"));
}

TEST_CASE("constant-time compare", "[crypto]") {
  CHECK(equal_constant_time(as_bytes("abc"), as_bytes("abc")));
  CHECK_FALSE(equal_constant_time(as_bytes("abc"), as_bytes("abd")));
  CHECK_FALSE(equal_constant_time(as_bytes("abc"), as_bytes("ab")));
  CHECK(equal_constant_time(as_bytes(""), as_bytes("")));
}
