#include <tests/support/test_support.hpp>

#include <crypto/signing.hpp>

#include <base/private_file.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <thread>

using namespace medgw;
using namespace medgw::crypto;
namespace base = medgw::base;

TEST_CASE("the gateway signing key is created on first use, 0600, and kept", "[signing]") {
  test::TempDir dir;
  const auto file = dir / std::string(SigningKey::file_name);
  const SigningKey first = SigningKey::load_or_create(file);
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  const SigningKey again = SigningKey::load_or_create(file);
  CHECK(again.public_key() == first.public_key());
  const std::string statement = object_statement("id", 1, "131234567", std::string(64, '0'));
  CHECK(verify_signature(first.public_key(), as_bytes(statement), again.sign(as_bytes(statement))));
}

TEST_CASE("concurrent first use of the signing key agrees on one key", "[signing]") {
  test::TempDir dir;
  const auto file = dir / "signing.key";
  std::vector<Ed25519PublicKey> keys(6);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i] { keys[i] = SigningKey::load_or_create(file).public_key(); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& key : keys) CHECK(key == keys[0]);
}

TEST_CASE("a damaged or exposed signing key is refused", "[signing]") {
  test::TempDir dir;
  const auto damaged = dir / "damaged.key";
  base::create_private_file(damaged, as_bytes("medgw-signing-key/1 AAAA\n"));
  CHECK_THROWS_WITH(SigningKey::load_or_create(damaged), Catch::Contains("damaged"));
  const auto foreign = dir / "foreign.key";
  base::create_private_file(foreign, as_bytes("-----BEGIN PRIVATE KEY-----\n"));
  CHECK_THROWS_WITH(SigningKey::load_or_create(foreign), Catch::Contains("not a medgw signing key"));
  const auto exposed = dir / "exposed.key";
  (void)SigningKey::load_or_create(exposed);
  ::chmod(exposed.c_str(), 0640);
  CHECK_THROWS_WITH(SigningKey::load_or_create(exposed), Catch::Contains("chmod 600"));
}
