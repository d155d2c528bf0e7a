// The support bundle's redactor (daemon/support/redactor.hpp): what it keeps
// of medgw's own lines and what it takes out of anything else.
#include <daemon/support/log_tail.hpp>
#include <daemon/support/redactor.hpp>

#include <catch2/catch.hpp>

#include <random>

using namespace medgw;
using namespace medgw::daemon;

namespace {

std::shared_ptr<const crypto::PatientTagger> fixed_tagger() {
  return std::make_shared<const crypto::PatientTagger>(crypto::SecureBytes(crypto::PatientTagger::key_size, 7));
}

Redactor make_redactor() {
  Redactor redactor(fixed_tagger());
  redactor.add_patient_id("2300000000");
  redactor.add_patient_id("AB1234");
  redactor.keep("131234567");
  return redactor;
}

bool ascii_without_controls(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || (byte < 0x20 && c != '\t' && c != '\n') || byte == 0x7F) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("medgw's own log lines pass unchanged", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  for (const std::string line : {
           "time=2026-12-01T13:35:26.020987+09:00 level=info component=spool event=spool.object_committed "
           "msg=\"object spooled\" seq=1 object_id=01a231d1-3d21-7d2a-80b6-2285fff0804d entries=400 bytes=68681 "
           "content_bytes=3097291",
           "level=warn component=collect event=collect.anomaly msg=\"unexpected message type\" patient=pt:12345678 "
           "kind=message_type_unexpected type=ADT^A08",
           "2026-12-01T13:35:26.123456+0900 host medgw[1234567]: level=info component=hints msg=watching directories=100000",
           "sha256=3fa01c9e0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a facility=131234567"}) {
    INFO(line);
    CHECK(redactor.line(line) == line);
  }
}

TEST_CASE("patient IDs known to the gateway become their keyed tag", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  const std::string tag = redactor.tag("2300000000");
  CHECK_THAT(tag, Catch::StartsWith("pt:"));
  CHECK(redactor.line("patient 2300000000 done") == "patient " + tag + " done");
  CHECK(redactor.line("id=AB1234,x") == "id=" + redactor.tag("AB1234") + ",x");
  CHECK(redactor.line("ID2300000000") == "ID" + tag);
  CHECK(redactor.patient_ids() == 2);
}

TEST_CASE("unknown long numbers, grouped numbers and dates of birth are removed", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  CHECK(redactor.line("dpc 8335999999 seen") == "dpc <redacted:number> seen");
  CHECK(redactor.line("born 19410520") == "born <redacted:number>");
  CHECK(redactor.line("tel 03-1234-5678.") == "tel <redacted:number>.");
  CHECK(redactor.line("patient=1234567") == "patient=<redacted:number>");  // not a numeric field of medgw
  CHECK(redactor.line("bytes=1234567") == "bytes=1234567");
  CHECK(redactor.line("short 12345 stays") == "short 12345 stays");
  CHECK(redactor.line("on 2026-12-01 at 10:00") == "on 2026-12-01 at 10:00");
}

TEST_CASE("names in any Japanese script and encoding are removed", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  CHECK(redactor.line("name \xE4\xBD\x90\xE3\x80\x85\xE6\x9C\xA8\xE3\x80\x80\xE7\xBF\x94 x") == "name <redacted:name> x");  // 佐々木　翔
  CHECK(redactor.line("kana \xE3\x82\xB5\xE3\x82\xB5\xE3\x82\xAD") == "kana <redacted:name>");                          // ササキ
  CHECK(redactor.line("one \xE5\x81\xA5 char") == "one <redacted:name> char");                                           // 健
  CHECK(redactor.line("half \xEF\xBD\xBB\xEF\xBD\xBB\xEF\xBD\xB7") == "half <redacted:name>");                         // ｻｻｷ
  // CP932 ササキ = 83 54 83 54 83 4C: the ASCII trail bytes go with their lead bytes.
  CHECK(redactor.line("sjis \x83\x54\x83\x54\x83\x4C end") == "sjis <redacted:bytes> end");
  // CP932 ソ = 83 5C (a backslash as trail byte).
  CHECK(redactor.line("so \x83\x5C!") == "so <redacted:bytes>!");
  // ISO-2022-JP 佐藤: ESC $ B 3 4 F # ESC ( B
  CHECK(redactor.line("jis \x1B$B:4F#\x1B(B end") == "jis <redacted:jis> end");
  CHECK(redactor.line("accent caf\xC3\xA9") == "accent caf<redacted:text>");
  CHECK(redactor.line("bell\x07") == "bell?");
}

TEST_CASE("SS-MIX2 paths and HL7 names are removed whole", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  CHECK(redactor.line("file=/srv/std/230/000/2300000000/20240101/OMP-01/x") == "file=<redacted:path>");
  CHECK(redactor.line("see 999/901/9999013/ now") == "see <redacted:path> now");
  CHECK(redactor.line("name 9999013_20111220_OMG-01_000201101200100_20111220224447339_-_1 bad") ==
        "name <redacted:path> bad");
  CHECK(redactor.line("partial 9999013_20111220_OMG-01") == "partial <redacted:path>");
  CHECK(redactor.line("pid YAMADA^TARO^^^^^L here") == "pid <redacted:hl7> here");
  CHECK(redactor.line("type ADT^A08^ADT_A01 ok") == "type ADT^A08^ADT_A01 ok");
}

TEST_CASE("marked configuration values are replaced wherever they appear", "[support][redactor]") {
  Redactor redactor = make_redactor();
  redactor.add_literal("/srv/ssmix2/std", "<phi_path pt:aa7a3f68>");
  redactor.add_literal("http://user:s3cret@proxy:8080", "<secret>");
  CHECK(redactor.line("folder=/srv/ssmix2/std missing") == "folder=<phi_path pt:aa7a3f68> missing");
  CHECK(redactor.line("via http://user:s3cret@proxy:8080 failed") == "via <secret> failed");
  CHECK(redactor.line("file=/srv/ssmix2/std/230/000/2300000000/x") == "file=<phi_path pt:aa7a3f68><redacted:path>");
}

TEST_CASE("JSON keeps its numbers and structure, metrics keep their values", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  CHECK(redactor.json(R"({"ready_bytes":12345678,"path":"/a/230/000/2300000000/b","ok":true,"x":[null,"8335999999"]})") ==
        R"({"ready_bytes":12345678,"path":"<redacted:path>","ok":true,"x":[null,"<redacted:number>"]})");
  CHECK(redactor.json("not json 8335999999") == "not json <redacted:number>");
  CHECK(redactor.metrics("# HELP medgw_spool_bytes bytes\nmedgw_spool_bytes 12345678\nmedgw_x{source=\"ssmix2\"} 1 1700000000000\n") ==
        "# HELP medgw_spool_bytes bytes\nmedgw_spool_bytes 12345678\nmedgw_x{source=\"ssmix2\"} 1 1700000000000\n");
}

TEST_CASE("whatever the input, the output is ASCII without control characters", "[support][redactor]") {
  const Redactor redactor = make_redactor();
  std::mt19937 random(42);
  for (int round = 0; round < 2000; ++round) {
    std::string input(static_cast<std::size_t>(random() % 200), '\0');
    for (char& c : input) c = static_cast<char>(random() % 256);
    const std::string out = redactor.text(input);
    INFO(round);
    REQUIRE(ascii_without_controls(out));
  }
}

TEST_CASE("secret-looking values are recognised, public keys are not", "[support][redactor]") {
  for (const char* secret : {"password=hunter2", "AGE-SECRET-KEY-1QQQQ", "https://u:p@h.example/", "Zx81kQp0LmN3vB7tR2yW",
                             "api_key: abc", "-----BEGIN PRIVATE KEY-----", "Bearer abc"}) {
    INFO(secret);
    CHECK(looks_secret(secret));
  }
  for (const char* plain : {"Test Hospital", "/etc/medgw/tls/client.pem", "https://collector.example.jp/files/", "16MiB",
                            "age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87",
                            "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "131234567", "ssmix2-ext"}) {
    INFO(plain);
    CHECK_FALSE(looks_secret(plain));
  }
}

TEST_CASE("log lines are dated from medgw's and the journal's formats", "[support][diag]") {
  const auto medgw = line_time("time=2026-01-02T12:04:05.123456+09:00 level=info");
  const auto journal = line_time("2026-01-02T03:04:05.123456+0000 host medgw[1]: x");
  REQUIRE(medgw);
  REQUIRE(journal);
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(*medgw - *journal).count() == 0);
  CHECK_FALSE(line_time("another program wrote this"));
}
