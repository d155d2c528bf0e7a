// The generator's vocabularies must be representable where they are written:
// HL7 in ISO-2022-JP (JIS X 0208 only) and claims in CP932.
#include <collectors/hl7.hpp>
#include <claims/text_encoding.hpp>
#include <tools/sample/catalog.hpp>
#include <tools/sample/hl7_builder.hpp>
#include <tools/sample/hospital.hpp>

#include <catch2/catch.hpp>

#include <set>

using namespace medgw;
using namespace medgw::sample;

namespace {

void check_encodable(std::string_view text) {
  INFO(std::string(text));
  CHECK(claims::encode_iso2022jp(text));
  CHECK(claims::encode_cp932(text));
}

}  // namespace

TEST_CASE("catalog strings are JIS X 0208 and CP932", "[sample]") {
  for (const auto& name : surnames()) { check_encodable(name.kanji); check_encodable(name.kana); }
  for (const auto& name : male_given_names()) { check_encodable(name.kanji); check_encodable(name.kana); }
  for (const auto& name : female_given_names()) { check_encodable(name.kanji); check_encodable(name.kana); }
  for (const auto& d : departments()) check_encodable(d.name);
  for (const auto& d : oral_drugs()) check_encodable(d.name);
  for (const auto& d : injections()) check_encodable(d.name);
  for (const auto& t : lab_tests()) { check_encodable(t.name); CHECK(std::string_view(t.unit).find('^') == std::string_view::npos); }
  for (const auto& d : diagnoses()) check_encodable(d.name);
  for (const auto& a : addresses()) check_encodable(a.text);
  for (const auto& a : allergens()) { check_encodable(a.name); check_encodable(a.reaction); }
  for (const auto& i : insurers()) check_encodable(i.kind_name);
}

TEST_CASE("names cover every HL7 delimiter byte inside JIS pairs", "[sample]") {
  std::string all;
  for (const auto& name : surnames()) all += std::string(name.kanji);
  for (const auto& name : male_given_names()) all += std::string(name.kanji);
  for (const auto& name : female_given_names()) all += std::string(name.kanji);
  const std::string jis = *claims::encode_iso2022jp(all);
  const std::string pairs = jis.substr(jis.find("\x1b$B") + 3);
  for (char delimiter : {'|', '^', '~', '\\', '&'}) {
    INFO(delimiter);
    CHECK(pairs.find(delimiter) != std::string::npos);
  }
}

TEST_CASE("all 36 message kinds build, parse and declare their type", "[sample]") {
  REQUIRE(message_kinds().size() == 36);
  Settings settings;
  const Hospital hospital = make_hospital(settings);
  const Patient patient = make_patient(settings, 0);
  Rng rng(1);
  for (const MessageKind& kind : message_kinds()) {
    INFO(std::string(kind.data_type) + " " + std::string(kind.code) + "^" + std::string(kind.event));
    Encounter e;
    e.event = LocalTime{make_day(2025, 6, 1), 10 * 3'600'000};
    e.sent = e.event.plus_minutes(5);
    e.department = departments()[0];
    e.doctor = &hospital.doctors[0];
    e.order_no = kind.has_order ? "000000001000001" : "999999999999999";
    const std::string text = build_message(hospital, patient, kind, e, rng);
    auto message = collectors::Hl7Message::parse(text);
    REQUIRE(message);
    CHECK(message->message_type() == std::string(kind.code) + "^" + std::string(kind.event));
    CHECK(message->find("MSH")->component(9, 3) == kind.structure);
    REQUIRE(message->find("PID"));
    CHECK(message->find("PID")->component(3, 1) == patient.id);
    CHECK(claims::encode_iso2022jp(text));
  }
}

TEST_CASE("patients are deterministic and distinct", "[sample]") {
  Settings settings;
  settings.seed = 42;
  const Patient a = make_patient(settings, 17);
  const Patient b = make_patient(settings, 17);
  CHECK(a.id == b.id);
  CHECK(a.kanji_name() == b.kanji_name());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < 5000; ++i) ids.insert(make_patient(settings, i).id);
  CHECK(ids.size() == 5000);
  settings.seed = 43;
  CHECK(make_patient(settings, 17).id != a.id);
}
