#include <crypto/age.hpp>
#include <crypto/hash.hpp>
#include <crypto/signing.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>

#include <catch2/catch.hpp>

#include <numeric>

using namespace medgw::crypto;
namespace base = medgw::base;
using age::Error;

namespace {

std::vector<std::uint8_t> pattern(std::size_t size) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>((i * 131 + i / 7) & 0xFF);
  return data;
}

age::Identities just(const X25519Identity& identity) {
  age::Identities identities;
  identities.x25519.push_back(X25519Identity{identity.secret, identity.public_key});
  return identities;
}

std::size_t header_size(const std::vector<std::uint8_t>& file) {
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  return text.find("\n---") + 1 + text.substr(text.find("\n---") + 1).find('\n') + 1;
}

std::optional<Error> error_of(const std::vector<std::uint8_t>& file, const age::Identities& identities) {
  auto result = age::decrypt(file, identities);
  return result.failure ? std::optional(result.failure->code) : std::nullopt;
}

// Replaces a base64 character by another one, keeping the text base64.
void change_base64_char(std::vector<std::uint8_t>& file, std::size_t at) {
  file[at] = file[at] == 'A' ? 'B' : 'A';
}

}  // namespace

TEST_CASE("round trips at chunk-boundary sizes with one and three recipients", "[age]") {
  const X25519Identity a = generate_identity();
  const X25519Identity b = generate_identity();
  const X25519Identity c = generate_identity();
  for (std::size_t size : {0UL, 1UL, 65535UL, 65536UL, 65537UL, 131072UL, 10UL << 20}) {
    INFO(size);
    const auto plaintext = pattern(size);
    const auto one = age::encrypt(plaintext, std::vector{a.public_key});
    const std::size_t chunks = size == 0 ? 1 : (size + age::chunk_size - 1) / age::chunk_size;
    CHECK(one.size() == header_size(one) + age::nonce_size + size + chunks * 16);
    auto result = age::decrypt(one, just(a));
    CHECK_FALSE(result.failure);
    CHECK(result.plaintext == plaintext);
    CHECK(error_of(one, just(b)) == Error::no_identity_matched);

    const auto three = age::encrypt(plaintext, std::vector{a.public_key, b.public_key, c.public_key});
    for (const auto* identity : {&a, &b, &c}) CHECK(age::decrypt(three, just(*identity)).plaintext == plaintext);
  }
}

TEST_CASE("streaming writes of any size give a file age reads the same", "[age]") {
  const X25519Identity a = generate_identity();
  const auto plaintext = pattern(300'001);
  for (std::size_t piece : {1UL, 1000UL, 65536UL, 65537UL, 200'000UL}) {
    base::MemorySink sink;
    age::Encryptor encryptor(std::vector{a.public_key}, sink);
    for (std::size_t i = 0; i < plaintext.size(); i += piece) {
      encryptor.write(ByteView(plaintext).subspan(i, std::min(piece, plaintext.size() - i)));
    }
    encryptor.finish();
    CHECK(age::decrypt(sink.data, just(a)).plaintext == plaintext);
  }
}

TEST_CASE("passphrase files (scrypt)", "[age]") {
  const auto plaintext = pattern(70'000);
  base::MemorySink sink;
  age::Encryptor encryptor("correct horse battery staple", 10, sink);
  encryptor.write(plaintext);
  encryptor.finish();
  const std::string head(sink.data.begin(), sink.data.begin() + 40);
  CHECK_THAT(head, Catch::Contains("-> scrypt "));
  age::Identities right;
  right.passphrase = SecureString("correct horse battery staple");
  CHECK(age::decrypt(sink.data, right).plaintext == plaintext);
  age::Identities wrong;
  wrong.passphrase = SecureString("incorrect horse");
  CHECK(age::decrypt(sink.data, wrong).failure->code == Error::no_identity_matched);
  age::Identities strict = right;
  strict.max_work_factor = 9;
  CHECK(age::decrypt(sink.data, strict).failure->code == Error::work_factor_too_large);
}

TEST_CASE("tampering is refused, each kind with its own error", "[age][tamper]") {
  const X25519Identity mine = generate_identity();
  const X25519Identity other = generate_identity();
  const auto plaintext = pattern(3 * age::chunk_size + 1000);  // chunks 0, 1, 2 full; chunk 3 short
  const auto file = age::encrypt(plaintext, std::vector{mine.public_key, other.public_key});
  const auto me = just(mine);
  REQUIRE(age::decrypt(file, me).plaintext == plaintext);

  const std::string text(file.begin(), file.begin() + static_cast<long>(header_size(file)));
  const std::size_t first_stanza = text.find("-> X25519 ");
  const std::size_t second_stanza = text.find("-> X25519 ", first_stanza + 1);
  const std::size_t second_body = text.find('\n', second_stanza) + 1;
  const std::size_t mac = text.find("--- ") + 4;
  const std::size_t payload = header_size(file) + age::nonce_size;
  auto chunk_start = [&](std::size_t index) { return payload + index * age::encrypted_chunk_size; };

  SECTION("a flipped byte in the version line") {
    auto bad = file;
    bad[0] ^= 0x01;
    CHECK(error_of(bad, me) == Error::header_malformed);
  }
  SECTION("a flipped byte in my stanza's share") {
    auto bad = file;
    change_base64_char(bad, first_stanza + 15);
    CHECK(error_of(bad, me) == Error::no_identity_matched);
  }
  SECTION("a flipped byte in another recipient's stanza") {
    auto bad = file;
    change_base64_char(bad, second_body + 5);
    CHECK(error_of(bad, me) == Error::header_mac_mismatch);
  }
  SECTION("a flipped byte in the MAC") {
    auto bad = file;
    change_base64_char(bad, mac + 10);
    CHECK(error_of(bad, me) == Error::header_mac_mismatch);
  }
  SECTION("a removed stanza") {
    auto without_other = file;
    without_other.erase(without_other.begin() + static_cast<long>(second_stanza),
                        without_other.begin() + static_cast<long>(text.find('\n', second_body) + 1));
    CHECK(error_of(without_other, me) == Error::header_mac_mismatch);
    auto without_mine = file;
    without_mine.erase(without_mine.begin() + static_cast<long>(first_stanza),
                       without_mine.begin() + static_cast<long>(second_stanza));
    CHECK(error_of(without_mine, me) == Error::no_identity_matched);
  }
  SECTION("a flipped byte in each chunk") {
    for (std::size_t chunk = 0; chunk < 4; ++chunk) {
      INFO(chunk);
      auto bad = file;
      bad[chunk_start(chunk) + 500] ^= 0x80;
      auto result = age::decrypt(bad, me);
      REQUIRE(result.failure);
      CHECK(result.failure->code == (chunk < 3 ? Error::chunk_authentication_failed : Error::final_chunk_authentication_failed));
      CHECK(result.failure->chunk == chunk);
      // Only the chunks before the damaged one were released.
      CHECK(result.plaintext == std::vector(plaintext.begin(), plaintext.begin() + static_cast<long>(chunk * age::chunk_size)));
    }
  }
  SECTION("truncation at chunk boundaries") {
    for (std::size_t chunks : {1UL, 2UL, 3UL}) {
      const std::vector cut(file.begin(), file.begin() + static_cast<long>(chunk_start(chunks)));
      auto result = age::decrypt(cut, me);
      REQUIRE(result.failure);
      CHECK(result.failure->code == Error::truncated_at_chunk_boundary);
      CHECK_THAT(result.failure->message(), Catch::Contains("cut short"));
    }
  }
  SECTION("truncation between chunk boundaries") {
    for (std::size_t at : {chunk_start(1) + 100, chunk_start(3) + 10, file.size() - 1}) {
      const std::vector cut(file.begin(), file.begin() + static_cast<long>(at));
      CHECK(error_of(cut, me) == Error::final_chunk_authentication_failed);
    }
    const std::vector in_header(file.begin(), file.begin() + static_cast<long>(mac));
    CHECK(error_of(in_header, me) == Error::header_malformed);
    const std::vector in_nonce(file.begin(), file.begin() + static_cast<long>(header_size(file) + 5));
    CHECK(error_of(in_nonce, me) == Error::nonce_missing);
    const std::vector no_chunks(file.begin(), file.begin() + static_cast<long>(payload));
    CHECK(error_of(no_chunks, me) == Error::no_chunks);
  }
  SECTION("appended bytes") {
    for (std::size_t extra : {1UL, 100UL, 1000UL}) {
      auto longer = file;
      longer.insert(longer.end(), extra, 0x42);
      CHECK(error_of(longer, me) == Error::trailing_data);
    }
    const auto full = age::encrypt(pattern(2 * age::chunk_size), std::vector{mine.public_key});
    auto longer = full;
    longer.push_back(0);
    CHECK(error_of(longer, me) == Error::trailing_data);
  }
  SECTION("swapped chunks") {
    auto swapped = file;
    std::swap_ranges(swapped.begin() + static_cast<long>(chunk_start(0)), swapped.begin() + static_cast<long>(chunk_start(1)),
                     swapped.begin() + static_cast<long>(chunk_start(1)));
    auto result = age::decrypt(swapped, me);
    REQUIRE(result.failure);
    CHECK(result.failure->code == Error::chunk_out_of_order);
    CHECK(result.failure->chunk == 0);
    CHECK(result.plaintext.empty());
  }
}

TEST_CASE("failure messages never contain key or plaintext material", "[age]") {
  for (int code = 0; code <= static_cast<int>(Error::trailing_data); ++code) {
    const age::Failure failure{static_cast<Error>(code), 3, ""};
    INFO(age::error_name(failure.code));
    CHECK_FALSE(failure.message().empty());
    CHECK(age::error_name(failure.code) != "unknown");
  }
}

TEST_CASE("identity and recipient files", "[age]") {
  const X25519Identity identity = generate_identity();
  const SecureString text = identity_file_text(identity, "2026-11-25T00:00:00Z");
  KeyFileError error;
  auto parsed = parse_identity_file(std::string_view(text), error);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0].public_key == identity.public_key);
  CHECK(parse_identity_file("# nothing\n\n", error).empty());
  CHECK(error.message == "holds no identity");
  CHECK(parse_identity_file("# ok\n" + format_recipient(identity.public_key) + "\n", error).empty());
  CHECK(error.line == 2);
  CHECK_THAT(error.message, Catch::Contains("recipient"));
  auto recipients = parse_recipients_file("# team\n" + format_recipient(identity.public_key) + "\r\n\n", error);
  REQUIRE(recipients.size() == 1);
  CHECK(recipients[0] == identity.public_key);
  // The CCTV identity and its public key as `age-keygen -y` prints it.
  auto cctv = parse_identity("AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0");
  REQUIRE(cctv);
  CHECK(format_recipient(cctv->public_key) == "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef");
  CHECK(std::string_view(format_identity(*cctv)) == "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0");
  CHECK_FALSE(parse_identity("age-secret-key-1egtzvffv20835nwyv6270lxyvk2vknx2mmdkwyklmgr48uawx40q2p2lm0"));
}

TEST_CASE("Ed25519: RFC 8032 test 1 and the object statement", "[signing]") {
  const auto seed = *base::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const SigningKey key = SigningKey::from_seed(seed);
  CHECK(base::to_hex(key.public_key()) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const auto signature = key.sign({});
  CHECK(base::to_hex(signature) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(verify_signature(key.public_key(), {}, signature));

  const std::string statement = object_statement("0190b2d4-8f1e-7abc-9def-0123456789ab", 42, "131234567", std::string(64, 'a'));
  CHECK(statement == "medgw-object/1\n0190b2d4-8f1e-7abc-9def-0123456789ab\n42\n131234567\n" + std::string(64, 'a') + "\n");
  const auto signed_statement = key.sign(as_bytes(statement));
  CHECK(verify_signature(key.public_key(), as_bytes(statement), signed_statement));
  std::string changed = statement;
  changed[20] ^= 1;
  CHECK_FALSE(verify_signature(key.public_key(), as_bytes(changed), signed_statement));
  CHECK_THAT(key.public_key_text(), Catch::StartsWith("ed25519:"));
}

TEST_CASE("strict base64", "[age]") {
  CHECK(base::base64_encode(as_bytes("ab")) == "YWI");
  CHECK(base::base64_encode(as_bytes("ab"), true) == "YWI=");
  CHECK(base::base64_decode_canonical("YWI"));
  CHECK_FALSE(base::base64_decode_canonical("YWI="));  // no padding in age
  CHECK_FALSE(base::base64_decode_canonical("YWJ"));   // non-zero trailing bits
  CHECK_FALSE(base::base64_decode_canonical("Y"));
  CHECK_FALSE(base::base64_decode_canonical("YW I"));
  CHECK(base::base64_decode_padded("YWI="));
  CHECK_FALSE(base::base64_decode_padded("YWI"));
}
