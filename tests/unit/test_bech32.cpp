#include <crypto/age_keys.hpp>
#include <crypto/bech32.hpp>

#include <base/hex.hpp>

#include <catch2/catch.hpp>

using namespace medgw::crypto;
namespace base = medgw::base;

// A recipient printed by the Debian age-keygen 1.1.1.
constexpr const char* known_recipient = "age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87";

TEST_CASE("BIP 173 valid strings decode", "[bech32]") {
  // Vectors from BIP 173 ("Valid Bech32").
  for (const char* text : {"A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                           "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"}) {
    INFO(text);
    CHECK(bech32_decode(text).has_value());
  }
}

TEST_CASE("BIP 173 invalid strings are refused", "[bech32]") {
  for (const char* text : {"pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "A1G7SGD8", "10a06t8",
                           "1qzzfhee", "A12uEL5L" /* mixed case */, "a12uel5m" /* checksum */}) {
    INFO(text);
    CHECK_FALSE(bech32_decode(text).has_value());
  }
}

TEST_CASE("age recipients round-trip", "[bech32]") {
  auto key = parse_recipient(known_recipient);
  REQUIRE(key);
  CHECK(format_recipient(*key) == known_recipient);
  std::string upper = known_recipient;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(bech32_encode("age", *key, true) == upper);
}

TEST_CASE("malformed age recipients are refused", "[bech32]") {
  std::string flipped = known_recipient;
  flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
  CHECK_FALSE(parse_recipient(flipped));
  std::string upper = known_recipient;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK_FALSE(parse_recipient(upper));  // bech32-valid, but age recipients are lower case
  CHECK_FALSE(parse_recipient("age1"));
  CHECK_FALSE(parse_recipient(""));
  // Right checksum, wrong prefix.
  auto key = parse_recipient(known_recipient);
  REQUIRE(key);
  CHECK_FALSE(parse_recipient(bech32_encode("agf", *key)));
  // Right prefix, 31-byte payload.
  CHECK_FALSE(parse_recipient(bech32_encode("age", std::span(*key).first(31))));
}
