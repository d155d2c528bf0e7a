// medgw-sample output checked with medgw's own readers (the system test
// tests/system/test_sample_data.py checks it again with independent tools).
#include <collectors/hl7.hpp>
#include <collectors/ssmix2_name.hpp>
#include <claims/text_encoding.hpp>
#include <collectors/uke_validator.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace medgw;
using namespace medgw::collectors;
using namespace medgw::claims;

namespace {

const std::filesystem::path& generated_tree() {
  static test::TempDir dir;
  static const std::filesystem::path root = [] {
    const auto tool = test::binary_dir() / "tools/sample/medgw-sample";
    const std::string command = tool.string() + " --out " + (dir / "h").string() + " --patients 200 --seed 7 > /dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    return dir / "h";
  }();
  return root;
}

// domain.md §1.6: the message field that carries the 診療日 of each event.
std::string care_date_in_message(const Hl7Message& message) {
  const std::string type = message.message_type();
  const auto field = [&](std::string_view segment, int number) -> std::string {
    const Hl7Segment* s = message.find(segment);
    return s ? std::string(s->component(number, 1)).substr(0, 8) : std::string("?");
  };
  static const std::map<std::string, std::pair<std::string, int>> rules{
      {"ADT^A04", {"PV1", 44}}, {"ADT^A01", {"PV1", 44}}, {"ADT^A11", {"PV1", 44}},
      {"ADT^A14", {"PV2", 8}},  {"ADT^A27", {"PV2", 8}},  {"ADT^A15", {"PV2", 8}},  {"ADT^A26", {"PV2", 8}},
      {"ADT^A16", {"PV2", 9}},  {"ADT^A25", {"PV2", 9}},  {"ADT^A03", {"PV1", 45}}, {"ADT^A13", {"PV1", 45}},
      {"ADT^A21", {"EVN", 6}},  {"ADT^A52", {"EVN", 6}},  {"ADT^A22", {"EVN", 6}},  {"ADT^A02", {"EVN", 6}},
      {"ADT^A12", {"EVN", 6}},  {"ADT^A53", {"PV2", 47}}, {"OMD^O03", {"ORC", 9}},  {"RDE^O11", {"ORC", 9}},
      {"OML^O33", {"ORC", 9}},  {"OMG^O19", {"ORC", 9}},  {"RAS^O17", {"RXA", 3}},  {"OUL^R22", {"SPM", 17}},
      {"OMI^Z23", {"OBR", 7}},  {"ORU^R01", {"OBR", 7}},
  };
  auto rule = rules.find(type);
  if (rule == rules.end()) return "-";
  return field(rule->second.first, rule->second.second);
}

}  // namespace

TEST_CASE("generated SS-MIX2 files fit the grammar, decode, parse and agree with their folders", "[sample]") {
  const auto storage = generated_tree() / "ssmix2/std";
  std::set<std::string> message_types;
  std::map<std::string, std::vector<char>> flags_by_item;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(storage)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string relative = std::filesystem::relative(entry.path(), storage).generic_string();
    INFO(relative);
    const Ssmix2PathCheck check = check_ssmix2_path(relative);
    REQUIRE(check.clean());
    const std::string raw = test::read_file(entry.path());
    auto text = decode_iso2022jp(raw);
    REQUIRE(text);
    auto message = Hl7Message::parse(*text);
    REQUIRE(message);
    CHECK(message->find("MSH")->field(12) == "2.5");
    REQUIRE(message->find("PID"));
    CHECK(message->find("PID")->component(3, 1) == check.name->patient_id);
    CHECK(care_date_in_message(*message) == check.name->care_date);
    message_types.insert(check.name->data_type + " " + message->message_type());
    flags_by_item[check.name->logical_key()].push_back(check.name->condition_flag);
  }
  CHECK(files > 2000);
  CHECK(message_types.size() == 36);
  std::size_t updated = 0;
  std::size_t deleted = 0;
  for (const auto& [key, flags] : flags_by_item) {
    const auto current = std::count(flags.begin(), flags.end(), '1');
    const auto removed = std::count(flags.begin(), flags.end(), '0');
    CHECK(current <= 1);
    CHECK((removed == 0 || current == 0));  // a deleted item has no current version
    if (std::count(flags.begin(), flags.end(), '2') > 0 && current == 1) ++updated;
    if (removed > 0) ++deleted;
  }
  CHECK(updated > 10);
  CHECK(deleted > 5);
}

TEST_CASE("generated receipts pass every UKE integrity rule", "[sample]") {
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(generated_tree() / "receipt")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    INFO(entry.path().string());
    CHECK(entry.path().filename() == "RECEIPTC.UKE");
    const std::string bytes = test::read_file(entry.path());
    const UkeValidator validator = validate_uke(bytes);
    for (const auto& finding : validator.findings()) INFO(issue_name(finding.issue) << " at " << finding.line);
    CHECK(validator.findings().empty());
    CHECK(validator.summary().receipts > 20);
    CHECK(validator.summary().facility == "131234567");
    CHECK(decode_cp932(bytes.substr(0, bytes.size() - 1)));
  }
  CHECK(files == 3);
}

TEST_CASE("generated DPC files are CP932, CRLF, with the column count of their kind", "[sample]") {
  const std::map<std::string, std::size_t> columns{{"FF1", 17}, {"EFn", 31}, {"Dn", 30}, {"Hn", 19}};
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(generated_tree() / "dpc")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string name = entry.path().filename().string();
    INFO(name);
    const std::string kind = name.substr(0, name.find('_'));
    REQUIRE(columns.contains(kind));
    CHECK_THAT(name, Catch::Matches("[A-Za-z0-9]+_131234567_[0-9]{4}\\.txt"));
    const std::string raw = test::read_file(entry.path());
    auto text = decode_cp932(raw);
    REQUIRE(text);
    std::size_t start = 0;
    std::size_t lines = 0;
    while (start < text->size()) {
      const auto end = text->find("\r\n", start);
      REQUIRE(end != std::string::npos);
      const std::string line = text->substr(start, end - start);
      CHECK(line.find('\n') == std::string::npos);
      CHECK(static_cast<std::size_t>(std::count(line.begin(), line.end(), '\t')) + 1 == columns.at(kind));
      if (!(kind == "EFn" && lines == 0)) CHECK_THAT(line, Catch::StartsWith("131234567\t"));
      ++lines;
      start = end + 2;
    }
    CHECK(lines > 0);
  }
  CHECK(files == 12);
}

TEST_CASE("generated extended storage uses content folders with 6 or 7 fields", "[sample]") {
  std::size_t folders = 0;
  std::set<std::size_t> field_counts;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(generated_tree() / "ssmix2/ext")) {
    if (!entry.is_regular_file()) continue;
    const std::string folder = entry.path().parent_path().filename().string();
    field_counts.insert(static_cast<std::size_t>(std::count(folder.begin(), folder.end(), '_')) + 1);
    ++folders;
  }
  CHECK(folders > 0);
  CHECK(field_counts == std::set<std::size_t>{6, 7});
}
