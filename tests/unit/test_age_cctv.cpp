// Every C2SP CCTV age vector in ../shared/testdata/age-cctv, read from the
// files themselves, except hybrid* (ML-KEM) and armor* (ASCII armor), which
// medgw does not implement.
#include <tests/support/test_support.hpp>

#include <crypto/age.hpp>
#include <crypto/hash.hpp>

#include <base/hex.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include <zlib.h>

using namespace medgw;
using namespace medgw::crypto;
namespace base = medgw::base;

namespace {

struct Vector {
  std::string name;
  std::string expect;
  std::optional<std::string> payload_sha256;
  std::vector<std::string> identities;
  std::optional<std::string> passphrase;
  std::string body;
};

std::string inflate_zlib(const std::string& compressed) {
  std::string out(compressed.size() * 8 + 1024, '\0');
  while (true) {
    uLongf length = out.size();
    const int result = uncompress(reinterpret_cast<Bytef*>(out.data()), &length,
                                  reinterpret_cast<const Bytef*>(compressed.data()), compressed.size());
    if (result == Z_OK) {
      out.resize(length);
      return out;
    }
    if (result != Z_BUF_ERROR) FAIL("bad zlib data in a test vector");
    out.resize(out.size() * 4);
  }
}

Vector load(const std::filesystem::path& file) {
  const std::string text = test::read_file(file);
  const auto split = text.find("\n\n");
  REQUIRE(split != std::string::npos);
  Vector vector;
  vector.name = file.filename().string();
  bool compressed = false;
  std::string_view headers(text.data(), split);
  while (!headers.empty()) {
    const auto end = headers.find('\n');
    const std::string_view line = headers.substr(0, end);
    headers.remove_prefix(end == std::string_view::npos ? headers.size() : end + 1);
    const auto colon = line.find(": ");
    REQUIRE(colon != std::string_view::npos);
    const std::string key(line.substr(0, colon));
    const std::string value(line.substr(colon + 2));
    if (key == "expect") vector.expect = value;
    else if (key == "payload") vector.payload_sha256 = value;
    else if (key == "identity") vector.identities.push_back(value);
    else if (key == "passphrase") vector.passphrase = value;
    else if (key == "compressed") compressed = value == "zlib";
  }
  vector.body = text.substr(split + 2);
  if (compressed) vector.body = inflate_zlib(vector.body);
  return vector;
}

std::string category_text(age::Category category) {
  switch (category) {
    case age::Category::header: return "header failure";
    case age::Category::no_match: return "no match";
    case age::Category::hmac: return "HMAC failure";
    case age::Category::payload: return "payload failure";
  }
  return "?";
}

age::DecryptResult decrypt_in_pieces(const std::string& body, const age::Identities& identities, std::size_t piece) {
  age::DecryptResult result;
  base::MemorySink sink;
  age::Decryptor decryptor(identities, sink);
  for (std::size_t i = 0; i < body.size() && !result.failure; i += piece) {
    result.failure = decryptor.feed(as_bytes(std::string_view(body).substr(i, piece)));
  }
  if (!result.failure) result.failure = decryptor.finish();
  result.plaintext = std::move(sink.data);
  return result;
}

}  // namespace

TEST_CASE("C2SP CCTV age vectors give their expected result", "[age][cctv]") {
  const auto folder = test::testdata_dir() / "age-cctv";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name == "LICENSE" || name.starts_with("hybrid") || name.starts_with("armor")) continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 92);
  std::map<std::string, int> outcomes;
  for (const auto& file : files) {
    const Vector vector = load(file);
    INFO(vector.name << " expects " << vector.expect);
    age::Identities identities;
    for (const auto& text : vector.identities) {
      auto identity = parse_identity(text);
      REQUIRE(identity);
      identities.x25519.push_back(std::move(*identity));
    }
    if (vector.passphrase) identities.passphrase = SecureString(*vector.passphrase);

    const age::DecryptResult whole = age::decrypt(as_bytes(vector.body), identities);
    if (whole.failure) INFO("medgw: " << age::error_name(whole.failure->code) << ": " << whole.failure->message());
    if (vector.expect == "success") {
      CHECK_FALSE(whole.failure);
    } else {
      REQUIRE(whole.failure);
      CHECK(category_text(age::category_of(whole.failure->code)) == vector.expect);
    }
    if (vector.payload_sha256 && (vector.expect == "success" || vector.expect == "payload failure")) {
      CHECK(base::to_hex(sha256(whole.plaintext)) == *vector.payload_sha256);
    }
    // Feeding the file in odd-sized pieces must not change anything.
    for (std::size_t piece : {1U, 7U, 4096U}) {
      if (piece == 1 && vector.body.size() > 300'000) continue;
      const age::DecryptResult pieces = decrypt_in_pieces(vector.body, identities, piece);
      CHECK(pieces.failure.has_value() == whole.failure.has_value());
      if (pieces.failure && whole.failure) CHECK(pieces.failure->code == whole.failure->code);
      CHECK(pieces.plaintext == whole.plaintext);
    }
    ++outcomes[vector.expect];
  }
  CHECK(outcomes["success"] == 15);
  CHECK(outcomes["header failure"] == 51);
  CHECK(outcomes["no match"] == 7);
  CHECK(outcomes["HMAC failure"] == 1);
  CHECK(outcomes["payload failure"] == 18);
}
