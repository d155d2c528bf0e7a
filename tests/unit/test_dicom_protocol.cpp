// The DICOM upper layer and DIMSE pieces of the storage SCP (dicom/protocol.hpp)
// and the reader of stored instances (dicom/instance.hpp): well-formed input
// read back, every malformed length refused without reading past the bytes.
#include <dicom/instance.hpp>
#include <dicom/protocol.hpp>
#include <dicom/study_feed.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace medgw::dicom;

namespace {

void put_be16(std::string& out, unsigned value) {
  out.push_back(static_cast<char>((value >> 8) & 0xFF));
  out.push_back(static_cast<char>(value & 0xFF));
}

std::string item(unsigned char type, std::string_view value) {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back('\0');
  put_be16(out, static_cast<unsigned>(value.size()));
  out.append(value);
  return out;
}

std::string ae(std::string_view title) {
  std::string out(title);
  out.resize(16, ' ');
  return out;
}

// The variable part of an A-ASSOCIATE-RQ.
std::string associate_body(std::string_view called, std::string_view calling, std::string contexts) {
  std::string body;
  put_be16(body, 1);
  put_be16(body, 0);
  body += ae(called) + ae(calling) + std::string(32, '\0');
  body += item(0x10, application_context_uid);
  body += contexts;
  std::string max;
  max.append("\0\0\x40\0", 4);
  body += item(0x50, item(0x51, max));
  return body;
}

std::string context(unsigned char id, std::string_view abstract, std::initializer_list<std::string_view> syntaxes) {
  std::string value;
  value.push_back(static_cast<char>(id));
  value.append(3, '\0');
  value += item(0x30, abstract);
  for (std::string_view syntax : syntaxes) value += item(0x40, syntax);
  return item(0x20, value);
}

std::string le_element(unsigned group, unsigned element, std::string_view vr, std::string value) {
  if (value.size() % 2 != 0) value.push_back(vr == "UI" ? '\0' : ' ');
  std::string out;
  out.push_back(static_cast<char>(group & 0xFF));
  out.push_back(static_cast<char>(group >> 8));
  out.push_back(static_cast<char>(element & 0xFF));
  out.push_back(static_cast<char>(element >> 8));
  out.append(vr);
  if (vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT") {
    out.append(2, '\0');
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((value.size() >> shift) & 0xFF));
  } else {
    out.push_back(static_cast<char>(value.size() & 0xFF));
    out.push_back(static_cast<char>(value.size() >> 8));
  }
  return out + value;
}

std::filesystem::path write_instance(const std::string& name, const std::string& dataset,
                                     std::string_view syntax = explicit_le_uid) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() / name;
  std::ofstream(file, std::ios::binary) << file_meta("1.2.840.10008.5.1.4.1.1.1", "1.2.3.4", syntax) << dataset;
  return file;
}

std::string minimal_dataset() {
  return le_element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.1") + le_element(0x0008, 0x0018, "UI", "1.2.3.4") +
         le_element(0x0008, 0x0060, "CS", "CR") + le_element(0x0010, 0x0020, "LO", "P0001 ") +
         le_element(0x0020, 0x000D, "UI", "1.2.3") + le_element(0x0020, 0x000E, "UI", "1.2.3.5");
}

}  // namespace

TEST_CASE("an association request is read with its contexts and the peer's maximum PDU", "[dicom]") {
  const std::string body =
      associate_body("MEDGW", "PACS01",
                     context(1, "1.2.840.10008.5.1.4.1.1.1", {explicit_le_uid, implicit_le_uid}) +
                         context(3, verification_class_uid, {implicit_le_uid}));
  auto request = parse_associate_rq(body);
  REQUIRE(request);
  CHECK(request->called_ae == "MEDGW");
  CHECK(request->calling_ae == "PACS01");
  CHECK(request->application_context == application_context_uid);
  REQUIRE(request->contexts.size() == 2);
  CHECK(request->contexts[0].transfer_syntaxes.size() == 2);
  CHECK(request->max_pdu == 0x4000);

  const std::string accepted = associate_ac(*request, {{ContextAnswer{1, ContextResult::accepted, std::string(explicit_le_uid), "1.2.840.10008.5.1.4.1.1.1"}}}, 1 << 18);
  CHECK(accepted[0] == '\x02');
  CHECK(accepted.size() == 6U + static_cast<std::size_t>((static_cast<unsigned char>(accepted[4]) << 8) | static_cast<unsigned char>(accepted[5])));
}

TEST_CASE("a malformed association request is refused, never read past its bytes", "[dicom]") {
  const std::string good = associate_body("MEDGW", "PACS01", context(1, "1.2.840.10008.5.1.4.1.1.1", {implicit_le_uid}));
  CHECK_FALSE(parse_associate_rq(good.substr(0, 60)));
  // Cut anywhere: only a cut exactly between two items reads (without user information).
  int read = 0;
  for (std::size_t cut = 0; cut < good.size(); ++cut) read += parse_associate_rq(good.substr(0, cut)).ok() ? 1 : 0;
  CHECK(read == 1);
  // An item claiming more bytes than the PDU holds.
  std::string lying = good;
  lying[68 + 2] = '\x7F';
  CHECK_FALSE(parse_associate_rq(lying));
  // No presentation context at all; an even context ID.
  CHECK_FALSE(parse_associate_rq(associate_body("MEDGW", "PACS01", "")));
  CHECK_FALSE(parse_associate_rq(associate_body("MEDGW", "PACS01", context(2, "1.2.3", {implicit_le_uid}))));
}

TEST_CASE("P-DATA PDVs are split and their lengths checked", "[dicom]") {
  const std::string pdu = p_data(3, true, true, "abcd");
  auto pdvs = parse_p_data(std::string_view(pdu).substr(6));
  REQUIRE(pdvs);
  REQUIRE(pdvs->size() == 1);
  CHECK((*pdvs)[0].context == 3);
  CHECK((*pdvs)[0].command);
  CHECK((*pdvs)[0].last);
  CHECK((*pdvs)[0].data == "abcd");
  std::string longer = pdu.substr(6);
  longer[3] = '\x40';  // a PDV longer than the PDU
  CHECK_FALSE(parse_p_data(longer));
  CHECK_FALSE(parse_p_data(""));
  CHECK_FALSE(parse_p_data(std::string("\0\0\0\1\1", 5)));
}

TEST_CASE("a C-STORE response command set reads back", "[dicom]") {
  Command response;
  response.field = c_store_rsp;
  response.responded_to = 7;
  response.status = status_out_of_resources;
  response.sop_class = "1.2.840.10008.5.1.4.1.1.1";
  response.sop_instance = "1.2.3";
  response.error_comment = "full";
  auto parsed = parse_command(encode_command(response));
  REQUIRE(parsed);
  CHECK(parsed->field == c_store_rsp);
  CHECK(parsed->responded_to == 7);
  CHECK(parsed->status == status_out_of_resources);
  CHECK(parsed->sop_instance == "1.2.3");
  CHECK(parsed->dataset_type == no_dataset);
  std::string cut = encode_command(response);
  CHECK_FALSE(parse_command(cut.substr(0, cut.size() - 3)));
  CHECK_FALSE(parse_command(""));
}

TEST_CASE("a stored instance's identifiers are read and its structure checked", "[dicom]") {
  const std::string dataset = minimal_dataset() + le_element(0x7FE0, 0x0010, "OB", std::string(64, '\x5A'));
  const auto file = write_instance("medgw-unit-instance.dcm", dataset);
  auto facts = read_instance(file);
  REQUIRE(facts);
  CHECK(facts->patient_id == "P0001");
  CHECK(facts->study_uid == "1.2.3");
  CHECK(facts->modality == "CR");
  CHECK(facts->transfer_syntax == explicit_le_uid);

  SECTION("cut anywhere in the data set: refused") {
    const std::string full = file_meta("1.2.840.10008.5.1.4.1.1.1", "1.2.3.4", explicit_le_uid) + minimal_dataset();
    for (std::size_t cut = 1; cut < minimal_dataset().size(); ++cut) {
      if (cut % 2 == 0 && cut < 60) continue;
      const auto cut_file = std::filesystem::temp_directory_path() / "medgw-unit-cut.dcm";
      std::ofstream(cut_file, std::ios::binary) << full.substr(0, full.size() - cut);
      auto result = read_instance(cut_file);
      CHECK_FALSE(result.ok());
    }
  }
  SECTION("not DICOM, empty, an unknown transfer syntax") {
    const auto junk = std::filesystem::temp_directory_path() / "medgw-unit-junk.dcm";
    std::ofstream(junk, std::ios::binary) << std::string(300, 'x');
    CHECK(read_instance(junk).error().code == "not_dicom");
    std::ofstream(junk, std::ios::binary | std::ios::trunc).flush();
    CHECK(read_instance(junk).error().code == "empty");
    CHECK(read_instance(write_instance("medgw-unit-ts.dcm", dataset, "1.2.3.4.5.6")).error().code ==
          "unsupported_transfer_syntax");
  }
}

TEST_CASE("manifest paths name patient, study and instance and cannot escape their folder", "[dicom]") {
  InstanceFacts facts;
  facts.study_uid = "1.2.3";
  facts.sop_instance = "1.2.3.4";
  CHECK(instance_path("P0001", facts) == "P0001/1.2.3/1.2.3.4.dcm");
  CHECK(patient_folder_name("") == "_unidentified");
  CHECK(patient_folder_name("..") == "%2E%2E");
  CHECK(patient_folder_name("a/b") == "a%2Fb");
  CHECK(patient_folder_name("山田") == "%E5%B1%B1%E7%94%B0");
  CHECK_FALSE(valid_uid("1.2.a"));
  CHECK_FALSE(valid_uid(std::string(65, '1')));
}
