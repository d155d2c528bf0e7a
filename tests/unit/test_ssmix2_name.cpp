#include <collectors/ssmix2_name.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

using namespace medgw;
using namespace medgw::collectors;

TEST_CASE("file names of the grammar parse into their fields", "[ssmix2]") {
  auto name = parse_ssmix2_file_name("9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1");
  REQUIRE(name);
  CHECK(name->patient_id == "9999013");
  CHECK(name->care_date == "20110701");
  CHECK(name->data_type == "OMP-01");
  CHECK(name->order_no == "000000011000185");
  CHECK(name->timestamp == "20110701224603984");
  CHECK(name->department == "01");
  CHECK(name->condition_flag == '1');
  CHECK(name->format() == "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1");

  auto dateless = parse_ssmix2_file_name("9999013_-_ADT-00_999999999999999_20111220224447339_-_1");
  REQUIRE(dateless);
  CHECK(dateless->care_date == "-");
  CHECK(dateless->department == "-");
  CHECK(parse_ssmix2_file_name("9999013_20111013_OMD_123456789012345_20111014232213000_01_2"));
  CHECK(parse_ssmix2_file_name("0123456789_20080126_OML-11_081251234567800_200802031630123_01_1"));  // 15-digit time
  CHECK(parse_ssmix2_file_name("9999013_20111220_OMG-11_2011122000300_20111220224447339_24_1"));     // 13-digit order
}

TEST_CASE("names outside the grammar are refused", "[ssmix2]") {
  for (const char* bad : {"", "9999013", "9999013_20110701_OMP-01_000000011000185_20110701224603984_01",
                          "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_3",
                          "9999013_2011070_OMP-01_000000011000185_20110701224603984_01_1",
                          "9999013_20110701_omp-01_000000011000185_20110701224603984_01_1",
                          "9999013_20110701_OMP-1_000000011000185_20110701224603984_01_1",
                          "9999013_20110701_OMP-01_0000000110001851_20110701224603984_01_1",
                          "9999013_20110701_OMP-01_000000011000185_2011070122460_01_1",
                          "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1_x",
                          "9999013_20110701_OMP-01_000000011000185_20110701224603984__1",
                          "main_document.hl7"}) {
    INFO(bad);
    CHECK_FALSE(parse_ssmix2_file_name(bad));
  }
}

TEST_CASE("paths are checked against their folders", "[ssmix2]") {
  CHECK(check_ssmix2_path("999/901/9999013/20110701/OMP-01/9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1").clean());
  auto moved = check_ssmix2_path("000/000/0000001/20000401/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1");
  REQUIRE(moved.name);
  CHECK(moved.problems == std::vector{Ssmix2PathProblem::patient_mismatch, Ssmix2PathProblem::prefix_mismatch,
                                      Ssmix2PathProblem::date_mismatch, Ssmix2PathProblem::type_mismatch});
  CHECK(check_ssmix2_path("999/901/9999013/OMP-01/x").problems ==
        std::vector{Ssmix2PathProblem::bad_file_name, Ssmix2PathProblem::wrong_depth});
}

TEST_CASE("every file of the NHO sample patient 9999013 is clean", "[ssmix2]") {
  const auto root = test::testdata_dir() / "ssmix2-nho/sampleData";
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root / "999")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const auto relative = std::filesystem::relative(entry.path(), root).generic_string();
    INFO(relative);
    CHECK(check_ssmix2_path(relative).clean());
  }
  CHECK(files == 19);
}
