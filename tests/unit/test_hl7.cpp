#include <collectors/hl7.hpp>
#include <claims/text_encoding.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

using namespace medgw;
using namespace medgw::collectors;
using namespace medgw::claims;

TEST_CASE("the NHO ADT-00 sample parses after decoding", "[hl7]") {
  const auto file = test::testdata_dir() / "ssmix2-nho/sampleData/999/901/9999013/-/ADT-00/"
                                           "9999013_-_ADT-00_999999999999999_20111220224447339_-_1";
  const std::string raw = test::read_file(file);
  auto text = decode_iso2022jp(raw);
  REQUIRE(text);
  auto message = Hl7Message::parse(*text);
  REQUIRE(message);
  CHECK(message->message_type() == "ADT^A08");
  const Hl7Segment* msh = message->find("MSH");
  REQUIRE(msh);
  CHECK(msh->field(1) == "|");
  CHECK(msh->field(2) == "^~\\&");
  CHECK(msh->field(12) == "2.5");
  CHECK(msh->field(18) == "~ISO IR87");
  CHECK(msh->component(21, 1) == "SS-MIX2_1.20");
  const Hl7Segment* pid = message->find("PID");
  REQUIRE(pid);
  CHECK(pid->component(3, 1) == "9999013");
  CHECK(pid->component(5, 1, 1) == "患者");
  CHECK(pid->component(5, 2, 2) == "タロウ");
  CHECK(pid->field(7) == "19480405");
  CHECK(message->find("OBX", 2) != nullptr);
  CHECK(message->find("OBX", 3) == nullptr);
  CHECK(message->find("IN1") != nullptr);
}

TEST_CASE("splitting before decoding would break JIS kanji, decoding first keeps fields whole", "[hl7]") {
  const std::string utf8 = "MSH|^~\\&|A|B|C|D|20250101||ADT^A08^ADT_A01|1|P|2.5\rPID|0001||42^^^^PI||奥村^勇~オクムラ^イサム||19800101|M\r";
  auto jis = encode_iso2022jp(utf8);
  REQUIRE(jis);
  // Raw bytes hold extra '|' and '&' inside the kanji, so a raw split miscounts.
  const auto raw_pid = jis->substr(jis->find("PID"));
  CHECK(std::count(raw_pid.begin(), raw_pid.end(), '|') > std::count(utf8.begin() + static_cast<long>(utf8.find("PID")), utf8.end(), '|'));
  auto message = Hl7Message::parse(*decode_iso2022jp(*jis));
  REQUIRE(message);
  const Hl7Segment* pid = message->find("PID");
  REQUIRE(pid);
  CHECK(pid->component(5, 1) == "奥村");
  CHECK(pid->component(5, 2) == "勇");
  CHECK(pid->field(7) == "19800101");
}

TEST_CASE("segment-end variants seen in real storages", "[hl7]") {
  const std::string base = "MSH|^~\\&|A|B|C|D|20250101||ADT^A08^ADT_A01|1|P|2.5";
  for (const std::string& text : {base + "\rPID|1||7\r\x1c", base + "\nPID|1||7\n", base + "\r\nPID|1||7\r\n",
                                  base + "\rPID|1||7   \r\x1c\r\n", "\x0b" + base + "\rPID|1||7"}) {
    auto message = Hl7Message::parse(text);
    REQUIRE(message);
    REQUIRE(message->segments().size() == 2);
    CHECK(message->find("PID")->field(3) == "7");
  }
}

TEST_CASE("malformed messages are refused without echoing content", "[hl7]") {
  Hl7ParseError error;
  CHECK_FALSE(Hl7Message::parse("PID|1||secret-id", &error));
  CHECK(error.message.find("secret") == std::string::npos);
  CHECK_FALSE(Hl7Message::parse("MSH|^~", &error));
  CHECK_FALSE(Hl7Message::parse("", &error));
}

TEST_CASE("messages survive copies and moves", "[hl7]") {
  auto message = Hl7Message::parse("MSH|^~\\&|A\rPID|1||7");
  REQUIRE(message);
  Hl7Message copy = *message;
  Hl7Message moved = std::move(*message);
  CHECK(copy.find("PID")->field(3) == "7");
  CHECK(moved.find("PID")->field(3) == "7");
}

TEST_CASE("a line ends at its first CR or LF, wherever that falls in a 16-byte block", "[hl7]") {
  std::uint32_t state = 777;
  auto next = [&state](std::uint32_t below) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % below;
  };
  for (int round = 0; round < 5000; ++round) {
    std::string text(next(70), 'x');
    for (char& c : text) {
      const std::uint32_t pick = next(40);
      c = pick == 0 ? '\r' : pick == 1 ? '\n' : static_cast<char>(pick == 2 ? 0x8e : 0x20 + next(0x5f));
    }
    const std::size_t expected = std::min(text.find('\r'), std::min(text.find('\n'), text.size()));
    INFO("round " << round << ", " << text.size() << " bytes");
    REQUIRE(collectors::hl7_line_end(text) == expected);
  }
  CHECK(collectors::hl7_line_end("") == 0);
  CHECK(collectors::hl7_line_end(std::string(40, 'a') + "\n") == 40);
}
