// daemon/media: the search folding, the HL7 -> viewer extraction on the public
// NHO sample, and the data encryption checked with OpenSSL directly.
#include <daemon/media/extract.hpp>
#include <daemon/media/kana_fold.hpp>
#include <daemon/media/media_cipher.hpp>

#include <claims/text_encoding.hpp>
#include <tests/support/test_support.hpp>

#include <base/base64.hpp>

#include <catch2/catch.hpp>
#include <openssl/evp.h>

using namespace medgw;
using namespace medgw::media;

namespace {

PatientRecord extract_sample(const std::string& relative, std::string_view data_type, std::string_view care_date) {
  const auto file = test::testdata_dir() / "ssmix2-nho/sampleData/999/901/9999013" / relative;
  const auto text = claims::decode_iso2022jp(test::read_file(file));
  REQUIRE(text);
  const auto message = collectors::Hl7Message::parse(*text);
  REQUIRE(message);
  PatientRecord record;
  record.id = "9999013";
  REQUIRE(extract_message(*message, Origin{std::string(data_type), "1", {}}, care_date, record));
  return record;
}

}  // namespace

TEST_CASE("search folding: half-width kana, hiragana, full-width ASCII and spaces", "[media]") {
  CHECK(fold_for_search("カンジャ　タロウ") == "カンジャタロウ");
  CHECK(fold_for_search("かんじゃ たろう") == "カンジャタロウ");
  CHECK(fold_for_search("ｶﾝｼﾞｬ ﾀﾛｳ") == "カンジャタロウ");  // voiced mark composed, as NFKC does
  CHECK(fold_for_search("ﾊﾟﾋﾟﾌﾟ ｳﾞ") == "パピプヴ");
  CHECK(fold_for_search("ＡＢｃ１２") == "abc12");
  CHECK(fold_for_search("患者　太郎") == "患者太郎");
  CHECK(fold_for_search("ゝゞ") == "ヽヾ");
  CHECK(fold_for_search("ｰ") == "ー");
  CHECK(fold_for_search(std::string("a\xFF" "b")) == "a\xEF\xBF\xBD" "b");  // invalid byte -> U+FFFD
}

TEST_CASE("ADT-00 and ADT-61 of the NHO sample: basics and allergies", "[media]") {
  const PatientRecord basics =
      extract_sample("-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_1", "ADT-00", "-");
  CHECK(basics.name == "患者　太郎");
  CHECK(basics.kana == "カンジャ　タロウ");
  CHECK(basics.birth == "19480405");
  CHECK(basics.sex == "M");
  REQUIRE(basics.allergies.size() == 1);  // AL1
  CHECK(basics.allergies[0].allergen == "ペニシリン");
  CHECK(basics.allergies[0].type == "薬剤アレルギー");
  REQUIRE(basics.profile.size() == 3);
  CHECK(basics.profile[0].name == "身長");
  CHECK(basics.profile[0].value == "167.8");

  const PatientRecord allergies =
      extract_sample("-/ADT-61/9999013_-_ADT-61_999999999999999_20111014232213000_-_1", "ADT-61", "-");
  REQUIRE(allergies.allergies.size() == 4);
  CHECK(allergies.allergies[0].allergen == "スギ");
  CHECK(allergies.allergies[0].code == "5A1002216023023");
  CHECK(allergies.allergies[0].severity == "軽度");
  CHECK(allergies.allergies[0].reaction == "目のかゆみ");
  CHECK(allergies.allergies[1].onset == "小学校低学年の頃");  // IAM-12 when IAM-11 is empty
  CHECK(allergies.allergies[3].allergen == "アリナミン");
}

TEST_CASE("OML-11 of the NHO sample: lab values with units and ranges", "[media]") {
  const PatientRecord record = extract_sample(
      "20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1", "OML-11", "20111220");
  REQUIRE(record.labs.size() == 1);
  const LabReport& report = record.labs[0];
  CHECK(report.date == "201112191500");  // SPM-17, the collection time
  CHECK(report.specimen == "血清");
  REQUIRE(report.results.size() == 3);
  CHECK(report.results[1].name == "総蛋白");
  CHECK(report.results[1].value == "7.2");
  CHECK(report.results[1].unit == "g/dl");
  CHECK(report.results[1].range == "6.70-8.3");
}

TEST_CASE("an OBX flag is kept for the viewer to highlight", "[media]") {
  const std::string hl7 =
      "MSH|^~\\&|A|B|C|D|20250101||OUL^R22^OUL_R22|1|P|2.5\r"
      "SPM|1|1||023^血清^JC10|||||||||||||202501010900\r"
      "OBR|1|1||E002^生化学^99O03\r"
      "OBX|1|NM|3B035000002327201^ＡＳＴ^JC10||45|U/L^U/L^99XYZ|13-30|H|||F\r"
      "OBX|2|NM|2A030000001930101^ヘモグロビン^JC10||9.1|g/dL|13.7-16.8|LL|||F\r";
  const auto message = collectors::Hl7Message::parse(hl7);
  REQUIRE(message);
  PatientRecord record;
  REQUIRE(extract_message(*message, Origin{"OML-11", "1", {}}, "20250101", record));
  REQUIRE(record.labs.size() == 1);
  CHECK(record.labs[0].results[0].flag == "H");
  CHECK(record.labs[0].results[0].value == "45");
  CHECK(record.labs[0].results[1].flag == "LL");
}

TEST_CASE("OMP-01 of the NHO sample: prescription lines with usage and days", "[media]") {
  const PatientRecord record = extract_sample(
      "20110701/OMP-01/9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1", "OMP-01", "20110701");
  REQUIRE(record.medications.size() == 1);
  const Medication& order = record.medications[0];
  CHECK(order.order_no == "000000011000185");
  CHECK(order.date == "20110701103045");
  REQUIRE(order.lines.size() == 3);
  CHECK(order.lines[0].name == "ダーゼン錠（５mg)");
  CHECK(order.lines[0].code == "108665201");
  CHECK(order.lines[0].amount == "1");
  CHECK(order.lines[0].unit == "錠");
  CHECK(order.lines[0].usage == "内服・経口・１日３回朝昼夕食後");
  CHECK(order.lines[0].days == "5日分");
  CHECK(order.lines[0].total == "15 錠");
  CHECK(order.lines[2].name == "アレピアチン１０倍散");

  const PatientRecord injection = extract_sample(
      "20110701/OMP-02/9999013_20110701_OMP-02_123456789012345_20110701224603984_01_1", "OMP-02", "20110701");
  REQUIRE(injection.medications.size() == 1);
  REQUIRE(injection.medications[0].lines.size() == 6);  // RXC components, 2 per RXE
  CHECK(injection.medications[0].lines[0].name == "ソリタ−Ｔ３号輸液５００ｍＬ");
  CHECK(injection.medications[0].lines[0].route == "静脈内");
}

TEST_CASE("PPR-01 and ADT-22 of the NHO sample: diagnoses and admissions", "[media]") {
  const PatientRecord diagnoses =
      extract_sample("-/PPR-01/9999013_-_PPR-01_999999999999999_20111209163030000_01_1", "PPR-01", "-");
  REQUIRE(diagnoses.diagnoses.size() == 1);
  CHECK(diagnoses.diagnoses[0].name == "胃炎");
  CHECK(diagnoses.diagnoses[0].icd10 == "K297");
  CHECK(diagnoses.diagnoses[0].start == "20110831");
  CHECK(diagnoses.diagnoses[0].outcome == "回復せず");
  const PatientRecord admission = extract_sample(
      "20111120/ADT-22/9999013_20111120_ADT-22_999999999999999_20111220224447339_01_1", "ADT-22", "20111120");
  REQUIRE(admission.encounters.size() == 1);
  CHECK(admission.encounters[0].event == "ADT^A01");
  CHECK(admission.encounters[0].date == "201111201600");  // PV1-44
  CHECK(admission.encounters[0].patient_class == "I");
  CHECK_FALSE(admission.encounters[0].cancel);
}

TEST_CASE("sealed data opens with plain OpenSSL: PBKDF2-SHA256 key, AES-256-GCM, name as AAD", "[media]") {
  const std::array<std::uint8_t, MediaCipher::salt_size> salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const MediaCipher cipher = MediaCipher::derive("correct horse battery", salt, pbkdf2_iterations);
  CHECK(cipher.iterations() >= 600'000);
  const std::string sealed = cipher.seal("P/abc.JS", "{\"id\":\"9999013\"}");
  const auto raw = base::base64_decode_padded(sealed);
  REQUIRE(raw);
  REQUIRE(raw->size() == 12 + 16 + 16);

  // The format, re-derived independently of MediaCipher.
  unsigned char key[32];
  const std::string passphrase = "correct horse battery";
  REQUIRE(PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()), salt.data(), 16, 600'000,
                            EVP_sha256(), 32, key) == 1);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const std::string aad = "medgw-media/1:P/abc.JS";
  unsigned char plain[64];
  int length = 0;
  int total = 0;
  REQUIRE(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, raw->data()) == 1);
  REQUIRE(EVP_DecryptUpdate(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                            static_cast<int>(aad.size())) == 1);
  REQUIRE(EVP_DecryptUpdate(ctx, plain, &length, raw->data() + 12, 16) == 1);
  total = length;
  std::vector<unsigned char> tag(raw->end() - 16, raw->end());
  REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1);
  CHECK(EVP_DecryptFinal_ex(ctx, plain + total, &length) == 1);
  EVP_CIPHER_CTX_free(ctx);
  CHECK(std::string(reinterpret_cast<char*>(plain), 16) == "{\"id\":\"9999013\"}");

  CHECK(cipher.open("P/abc.JS", sealed) == std::optional<std::string>("{\"id\":\"9999013\"}"));
  CHECK_FALSE(cipher.open("P/other.JS", sealed));  // bound to its name
  CHECK_FALSE(MediaCipher::derive("wrong passphrase", salt, pbkdf2_iterations).open("P/abc.JS", sealed));
  CHECK(cipher.seal("P/abc.JS", "x") != cipher.seal("P/abc.JS", "x"));  // a fresh IV each time
}
