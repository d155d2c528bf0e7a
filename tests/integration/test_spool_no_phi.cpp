// Invariant 5 for the spool: after objects are built from the sample hospital,
// none of the sample patients' IDs or names - in UTF-8, ISO-2022-JP or CP932 -
// appears in the spool folder, the log, `medgw status` (text and JSON) or the
// error messages. A positive control shows the same search finds them in the
// plaintext sources, so the test can fail.
#include <claims/text_encoding.hpp>
#include <tests/integration/spool_fixture.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <set>

using namespace medgw;
using namespace medgw::spool;

namespace {

struct Pattern {
  std::string bytes;
  std::string label;  // "patient N kanji name (CP932)" - never the value itself
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find(separator, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// JIS X 0208 bytes of `utf8` without the escape sequences around them.
std::string jis_pairs(const std::string& utf8) {
  const std::string encoded = *claims::encode_iso2022jp(utf8);
  const auto start = encoded.find("\x1b$B");
  const auto end = encoded.find("\x1b(B");
  return start == std::string::npos ? encoded : encoded.substr(start + 3, end - start - 3);
}

std::vector<Pattern> patient_patterns(const std::filesystem::path& patients_tsv) {
  std::vector<Pattern> patterns;
  const auto lines = split(test::read_file(patients_tsv), '\n');
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const auto fields = split(lines[i], '\t');
    const std::string n = "patient " + std::to_string(i);
    patterns.push_back({fields[0], n + " ID"});
    patterns.push_back({fields[1], n + " DPC ID"});
    for (const auto* name : {&fields[2], &fields[3]}) {
      const std::string full_width_space = "\xe3\x80\x80";
      const auto space = name->find(full_width_space);
      const std::string surname = name->substr(0, space);
      const std::string given = name->substr(space + full_width_space.size());
      const std::string kind = name == &fields[2] ? "kanji" : "kana";
      // The forms the sources use: HL7 "surname^given", UKE "surname　given".
      for (const std::string& form : {surname + "^" + given, *name}) {
        patterns.push_back({form, n + " " + kind + " name (UTF-8)"});
        patterns.push_back({*claims::encode_cp932(form), n + " " + kind + " name (CP932)"});
      }
      patterns.push_back({jis_pairs(surname + given), n + " " + kind + " name (ISO-2022-JP)"});
      patterns.push_back({*claims::encode_iso2022jp(surname + "^" + given), n + " " + kind + " name (ISO-2022-JP, HL7)"});
    }
  }
  // Short patterns would match random bytes in ciphertext by chance.
  std::erase_if(patterns, [](const Pattern& p) { return p.bytes.size() < 6; });
  return patterns;
}

std::set<std::string> found_in(const std::string& haystack, const std::vector<Pattern>& patterns) {
  std::set<std::string> found;
  for (const Pattern& pattern : patterns) {
    if (haystack.find(pattern.bytes) != std::string::npos) found.insert(pattern.label);
  }
  return found;
}

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), got);
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("no patient ID or name leaks into the spool, the log, status or errors", "[spool][phi]") {
  test::SpoolFixture fixture;
  const auto hospital = fixture.dir / "hospital";
  REQUIRE(std::system((test::binary_dir() / "tools/sample/medgw-sample").string().append(" --out ")
                          .append(hospital.string()).append(" --patients 40 --seed 11 > /dev/null").c_str()) == 0);
  const std::vector<Pattern> patterns = patient_patterns(hospital / "patients.tsv");
  REQUIRE(patterns.size() > 200);

  // Every source file into objects, 150 files a batch, with the patient in
  // the (encrypted) meta as a collector would put it.
  std::vector<ObjectEntry> batch;
  std::string plaintext_sources;
  std::size_t objects = 0;
  for (const auto& item : std::filesystem::recursive_directory_iterator(hospital)) {
    if (!item.is_regular_file() || item.path().filename() == "patients.tsv") continue;
    const std::string relative = std::filesystem::relative(item.path(), hospital).generic_string();
    ObjectEntry entry = test::entry_for(item.path(), relative.substr(0, relative.find('/')), relative.substr(relative.find('/') + 1));
    entry.meta_json = "{\"file_name\":\"" + item.path().filename().string() + "\"}";
    plaintext_sources += test::read_file(item.path());
    batch.push_back(std::move(entry));
    if (batch.size() == 150) {
      REQUIRE(fixture.spool().build(batch).committed());
      ++objects;
      batch.clear();
    }
  }
  if (!batch.empty()) {
    REQUIRE(fixture.spool().build(batch).committed());
    ++objects;
  }
  CHECK(objects >= 4);

  // Positive control: the search does find the patients in the plaintext,
  // in every encoding.
  const std::set<std::string> in_sources = found_in(plaintext_sources, patterns);
  for (const char* encoding : {"(UTF-8)", "(CP932)", "(ISO-2022-JP, HL7)", " ID"}) {
    INFO(encoding);
    CHECK(std::count_if(in_sources.begin(), in_sources.end(), [&](const std::string& label) {
            return label.find(encoding) != std::string::npos;
          }) > 10);
  }

  // Errors on the same data.
  std::string errors;
  ObjectEntry changed = test::entry_for(hospital / "patients.tsv", "ssmix2", "000/000/0000001/-/ADT-00/x");
  changed.sha256 = std::string(64, 'f');
  errors += fixture.spool().build(std::vector{changed}).message + "\n";
  ObjectEntry missing = changed;
  missing.file = hospital / "ssmix2/std/missing-file";
  errors += fixture.spool().build(std::vector{missing}).message + "\n";

  // medgw status, text and JSON, on this state.
  const auto config = fixture.dir / "medgw.yaml";
  test::write_file(config, "facility: {code: \"131234567\"}\nstate_dir: " + (fixture.dir / "state").string() +
                               "\nsources:\n  - {name: ssmix2, type: ssmix2, path: " + (hospital / "ssmix2/std").string() +
                               "}\ncentral:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
                               "  recipients: [" + crypto::format_recipient(fixture.central.public_key) + "]\n");
  const std::string medgw = (test::binary_dir() / "daemon/medgw").string();
  const std::string status = run_command(medgw + " status -c " + config.string() + " 2>&1");
  const std::string status_json = run_command(medgw + " status --json -c " + config.string() + " 2>&1");
  CHECK_THAT(status, Catch::Contains(std::to_string(objects) + " ready"));
  CHECK_THAT(status_json, Catch::Contains("\"ready_objects\":" + std::to_string(objects)));

  std::string spool_bytes;
  for (const auto& item : std::filesystem::directory_iterator(fixture.spool_dir())) spool_bytes += test::read_file(item.path());
  CHECK(spool_bytes.size() > 50'000);

  for (const auto& [what, text] : std::vector<std::pair<std::string, std::string>>{
           {"spool folder", spool_bytes}, {"log", fixture.capture->text()}, {"status", status},
           {"status --json", status_json}, {"error messages", errors}}) {
    INFO(what);
    const std::set<std::string> leaked = found_in(text, patterns);
    CHECK(leaked.empty());
    for (const std::string& label : leaked) UNSCOPED_INFO("leaked: " << label);
  }
}
