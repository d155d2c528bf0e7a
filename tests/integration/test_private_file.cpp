#include <tests/support/test_support.hpp>

#include <base/private_file.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace medgw;
using base::as_bytes;
using base::as_chars;

TEST_CASE("secret files are created 0600 and never overwritten", "[private_file]") {
  test::TempDir dir;
  const auto file = dir / "key.txt";
  base::create_private_file(file, as_bytes("secret\n"));
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(as_chars(base::read_private_file(file)) == "secret\n");
  try {
    base::create_private_file(file, as_bytes("other\n"));
    FAIL("overwrote an existing key file");
  } catch (const std::system_error& error) {
    CHECK(error.code() == std::errc::file_exists);
    CHECK_THAT(error.what(), Catch::Contains("refusing to overwrite"));
  }
  CHECK(as_chars(base::read_private_file(file)) == "secret\n");
  // No temporary files are left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a secret file readable by group or other is refused with the fix", "[private_file]") {
  test::TempDir dir;
  const auto file = dir / "client.key";
  test::write_file(file, "-----BEGIN PRIVATE KEY-----\n");
  ::chmod(file.c_str(), 0640);
  CHECK_THROWS_WITH(base::read_private_file(file), Catch::Contains("mode is 0640") && Catch::Contains("chmod 600"));
  CHECK_THROWS_WITH(base::require_private_mode(file), Catch::Contains("chmod 600 " + file.string()));
  ::chmod(file.c_str(), 0604);
  CHECK_THROWS(base::require_private_mode(file));
  ::chmod(file.c_str(), 0600);
  CHECK_NOTHROW(base::require_private_mode(file));
  CHECK_THROWS_WITH(base::read_private_file(dir / "missing"), Catch::Contains("cannot read"));
  CHECK_THROWS_WITH(base::read_private_file(dir.path()), Catch::Contains("not a regular file"));
}
