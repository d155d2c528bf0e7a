#include <tests/support/test_support.hpp>

#include <crypto/patient_tag.hpp>

#include <base/private_file.hpp>

#include <catch2/catch.hpp>

#include <regex>
#include <thread>
#include <sys/stat.h>

using namespace medgw;
using namespace medgw::crypto;
namespace base = medgw::base;

TEST_CASE("patient tags are pt:<8 hex>, stable per install, different between installs", "[patient_tag]") {
  test::TempDir dir;
  const auto key_file = dir / "patient-tag.key";
  const PatientTagger first = PatientTagger::load_or_create(key_file);
  const std::string tag = first.tag("9999013");
  CHECK(std::regex_match(tag, std::regex("pt:[0-9a-f]{8}")));
  CHECK(tag.find("9999013") == std::string::npos);
  CHECK(first.tag("9999013") == tag);
  CHECK(first.tag("9999014") != tag);

  struct stat info {};
  REQUIRE(::stat(key_file.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(PatientTagger::load_or_create(key_file).tag("9999013") == tag);

  test::TempDir other;
  CHECK(PatientTagger::load_or_create(other / "patient-tag.key").tag("9999013") != tag);
}

TEST_CASE("concurrent first use agrees on one key", "[patient_tag]") {
  test::TempDir dir;
  const auto key_file = dir / "patient-tag.key";
  std::vector<std::string> tags(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    threads.emplace_back([&, i] { tags[i] = PatientTagger::load_or_create(key_file).tag("0000001"); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& tag : tags) CHECK(tag == tags[0]);
}

TEST_CASE("a damaged or exposed key file is refused", "[patient_tag]") {
  test::TempDir dir;
  const auto key_file = dir / "patient-tag.key";
  base::create_private_file(key_file, as_bytes("medgw-patient-tag-key/1 1234\n"));
  CHECK_THROWS_WITH(PatientTagger::load_or_create(key_file), Catch::Contains("damaged"));
  const auto exposed = dir / "exposed.key";
  (void)PatientTagger::load_or_create(exposed);
  ::chmod(exposed.c_str(), 0644);
  CHECK_THROWS_WITH(PatientTagger::load_or_create(exposed), Catch::Contains("chmod 600"));
}
