// daemon/media end to end on real files: the NHO sample exported encrypted
// (nothing of a patient in clear, the raw storage back with age, the manifest
// verifying), and a storage with bad input exported in clear (it goes on and
// counts every problem).
#include <daemon/media/data_packer.hpp>
#include <daemon/media/exporter.hpp>
#include <daemon/media/manifest.hpp>

#include <claims/text_encoding.hpp>
#include <crypto/age.hpp>

#include <base/base64.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <fstream>

using namespace medgw;
using namespace medgw::media;
namespace fs = std::filesystem;

namespace {

ExportOptions options_for(const fs::path& out, bool encrypt) {
  ExportOptions options;
  options.out = out;
  options.format = MediaFormat::dir;
  options.encrypt = encrypt;
  if (encrypt) options.passphrase = "correct horse battery staple";
  options.facility_code = "131234567";
  options.medgw_version = "test";
  return options;
}

std::vector<fs::path> files_under(const fs::path& root) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  return out;
}

}  // namespace

TEST_CASE("an encrypted export of the NHO sample holds no patient data in clear and verifies", "[media]") {
  test::TempDir dir;
  const fs::path sample = test::testdata_dir() / "ssmix2-nho/sampleData";
  auto reader = open_folder_reader({StorageRoots{"ssmix2", sample, {}}});
  const auto signer = crypto::SigningKey::generate();
  auto summary = export_media(*reader, options_for(dir / "media", true), signer);
  REQUIRE(summary.ok());
  CHECK(summary->patients == 2);
  CHECK(summary->source_files == 22);
  CHECK(summary->counts["encoding_invalid"] == 1);  // the 2-byte non-JIS file of patient 0000001
  CHECK(summary->counts["deleted"] == 1);           // its flag-0 file
  for (const char* name : {"INDEX.HTM", "README.TXT", "VIEWER/APP.JS", "DATA/KEY.JS", "SSMIX2.TAR.AGE",
                           "MANIFEST.JSON", "MANIFEST.SIG"}) {
    CHECK(fs::exists(dir / "media" / name));
  }
  // (The sample patient is named 患者 太郎, "patient Taro": the UI says 患者 too.)
  const std::string jis_name = *claims::encode_iso2022jp("太郎");
  for (const fs::path& file : files_under(dir / "media")) {
    const std::string path = file.string();
    const std::string content = test::read_file(file);
    INFO(path);
    for (const std::string& secret : {std::string("9999013"), std::string("0000001"), std::string("太郎"),
                                      std::string("カンジャ"), std::string("19480405"), std::string("静岡"), jis_name}) {
      CHECK(path.find(secret) == std::string::npos);
      CHECK(content.find(secret) == std::string::npos);
    }
  }
  const auto report = verify_media(dir / "media", signer.public_key_text());
  REQUIRE(report.ok());
  CHECK(report->problems.empty());
  CHECK(report->files == 11);  // INDEX, README, 5 viewer files, KEY, a shard, a pack, the tar.age

  crypto::age::Identities identities;
  identities.passphrase = base::SecureString("correct horse battery staple");
  const std::string age_file = test::read_file(dir / "media/SSMIX2.TAR.AGE");
  const auto tar = crypto::age::decrypt(base::as_bytes(age_file), identities);
  REQUIRE_FALSE(tar.failure);
  const std::string plain(tar.plaintext.begin(), tar.plaintext.end());
  CHECK(plain.find("ssmix2/999/901/9999013/-/ADT-61/9999013_-_ADT-61_999999999999999_20111014232213000_-_1") !=
        std::string::npos);

  // A changed byte, and the manifest no longer verifies.
  const fs::path key = dir / "media/DATA/KEY.JS";
  std::string text = test::read_file(key);
  text.back() = text.back() == '\n' ? ' ' : '\n';
  test::write_file(key, text);
  const auto tampered = verify_media(dir / "media");
  REQUIRE(tampered.ok());
  REQUIRE(tampered->problems.size() == 1);
  CHECK(tampered->problems[0] == "changed: DATA/KEY.JS");
}

TEST_CASE("bad input does not stop an export: each problem is counted", "[media]") {
  test::TempDir dir;
  const fs::path storage = dir / "std";
  const fs::path folder = storage / "111/111/1111111";
  const std::string adt = *claims::encode_iso2022jp(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A08^ADT_A01|1|P|2.5\rPID|0001||1111111^^^^PI||試験^花子^^^^^L^I~シケン^ハナコ^^^^^L^P||19800101|F\r");
  fs::create_directories(folder / "-/ADT-00");
  fs::create_directories(folder / "20240101/OMP-01");
  fs::create_directories(folder / "20240101/XYZ-99");
  test::write_file(folder / "-/ADT-00/1111111_-_ADT-00_999999999999999_20240101000000000_-_1", adt);
  test::write_file(folder / "20240101/OMP-01/1111111_20240101_OMP-01_000000000000001_20240101000000000_01_1", "garbage");
  test::write_file(folder / "20240101/OMP-01/1111111_20240101_OMP-01_000000000000002_20240101000000000_01_0", adt);
  test::write_file(folder / "20240101/XYZ-99/1111111_20240101_XYZ-99_000000000000001_20240101000000000_01_1", adt);
  const std::string odd_name = "1111111_20240101_OMP-01_\xff\xfe_1";
  test::write_file(folder / "20240101/OMP-01" / odd_name, "not utf-8 named");

  auto reader = open_folder_reader({StorageRoots{"ssmix2", storage, {}}});
  auto summary = export_media(*reader, options_for(dir / "media", false), crypto::SigningKey::generate());
  REQUIRE(summary.ok());
  CHECK(summary->patients == 1);
  CHECK(summary->source_files == 5);
  CHECK(summary->counts["hl7_invalid"] == 1);
  CHECK(summary->counts["unknown_data_type"] == 1);
  CHECK(summary->counts["deleted"] == 1);
  CHECK(summary->counts["non_utf8_name"] == 1);
  CHECK(summary->counts["bad_file_name"] == 1);
  // In clear, the raw storage keeps every name byte for byte.
  CHECK(test::read_file(dir / "media/SSMIX2/ssmix2/111/111/1111111/20240101/OMP-01" / odd_name) == "not utf-8 named");
  // The viewer's record says what it could not show, in clear JSON inside a base64 item.
  bool found_unread = false;
  for (const fs::path& pack : files_under(dir / "media/DATA/P")) {
    const std::string text = test::read_file(pack);
    const auto start = text.find("[\n\"") + 3;
    const auto item = base::base64_decode_padded(text.substr(start, text.find('"', start) - start));
    REQUIRE(item);
    const auto json = inflate_text(std::string(item->begin(), item->end()));
    REQUIRE(json);
    found_unread = json->find("\"problem\":\"hl7_invalid\"") != std::string::npos &&
                   json->find("\"problem\":\"unknown_data_type\"") != std::string::npos &&
                   json->find("\"name\":\"試験　花子\"") != std::string::npos;
  }
  CHECK(found_unread);
  const auto report = verify_media(dir / "media");
  REQUIRE(report.ok());
  CHECK(report->problems.empty());
}
