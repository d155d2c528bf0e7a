#include <tools/sample/hl7_builder.hpp>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace medgw::sample {
namespace {

using C = CareDateField;

class Segment {
 public:
  explicit Segment(std::string_view id) : id_(id) {}
  Segment& set(std::size_t number, std::string value) {
    if (fields_.size() < number) fields_.resize(number);
    fields_[number - 1] = std::move(value);
    return *this;
  }
  [[nodiscard]] std::string text() const {
    std::string out(id_);
    for (const std::string& field : fields_) {
      out.push_back('|');
      out += field;
    }
    return out;
  }

 private:
  std::string_view id_;
  std::vector<std::string> fields_;
};

std::string str(std::string_view text) { return std::string(text); }

std::string format_number(double value, int decimals) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  return text.data();
}

std::string padded(int value, int width) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%0*d", width, value);
  return text.data();
}

class MessageWriter {
 public:
  MessageWriter(const Hospital& hospital, std::string_view pid, const MessageKind& kind, const Encounter& encounter,
                Rng& rng)
      : hospital_(hospital), pid_(pid), kind_(kind), e_(encounter), rng_(rng) {}

  std::string build() {
    add_raw(msh());
    const std::string_view code = kind_.code;
    if (code == "ADT") {
      adt();
    } else if (code == "PPR") {
      problem_list();
    } else if (code == "OMD") {
      diet_order();
    } else if (code == "RDE") {
      kind_.data_type == "OMP-01" ? prescription() : injection_order();
    } else if (code == "RAS") {
      administration();
    } else if (code == "OML") {
      lab_order();
    } else if (code == "OUL") {
      lab_result();
    } else if (code == "OMG") {
      exam_order();
    } else if (code == "OMI") {
      exam_done();
    } else if (code == "ORU") {
      exam_report();
    } else {
      throw std::logic_error("no builder for message kind");
    }
    return out_;
  }

 private:
  void add_raw(std::string_view segment) {
    out_ += segment;
    out_.push_back('\r');
  }
  void add(const Segment& segment) { add_raw(segment.text()); }

  [[nodiscard]] std::string doctor() const { return e_.doctor ? e_.doctor->xcn() : std::string(); }
  [[nodiscard]] std::string dept_cwe() const {
    return str(e_.department.code) + "^" + str(e_.department.name) + "^99XY1";
  }
  [[nodiscard]] std::string location() const {
    if (e_.inpatient) return e_.ward + "^" + e_.room + "^1^^^N";
    return str(e_.department.code) + "^^^^^C";
  }

  std::string msh() {
    const std::string type = str(kind_.code) + "^" + str(kind_.event) + "^" + str(kind_.structure);
    const std::string sent = e_.sent.timestamp17();
    const std::string control = sent + padded(rng_.between(0, 99), 2);
    return "MSH|^~\\&|" + hospital_.sending_application + "|SEND|GW|RCV|" + sent.substr(0, 14) + "." +
           sent.substr(14) + "||" + type + "|" + control +
           "|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO";
  }

  Segment pv1(bool with_admit, bool with_discharge) {
    Segment pv1("PV1");
    pv1.set(1, "0001").set(2, e_.inpatient ? "I" : "O").set(3, location()).set(7, doctor());
    pv1.set(10, str(e_.department.code));
    if (with_admit) pv1.set(44, e_.event.yyyymmddhhmm());
    if (with_discharge) pv1.set(45, e_.event.yyyymmddhhmm());
    return pv1;
  }

  Segment evn(bool with_event_time) {
    Segment evn("EVN");
    evn.set(2, e_.sent.yyyymmddhhmm());
    if (with_event_time) evn.set(6, e_.event.yyyymmddhhmm());
    evn.set(7, "SEND001");
    return evn;
  }

  void adt() {
    const std::string_view event = kind_.event;
    const bool event_time = kind_.care_date == C::evn_6;
    add(evn(event_time));
    add_raw(pid_);
    if (event == "A08") {
      add(pv1(false, false));
      Segment height("OBX");
      height.set(1, "1").set(2, "NM").set(3, "9N001000000000001^身長^JC10").set(5, format_number(140 + rng_.between(0, 450) / 10.0, 1));
      height.set(6, "cm^cm^ISO+").set(11, "F");
      add(height);
      Segment weight("OBX");
      weight.set(1, "2").set(2, "NM").set(3, "9N006000000000001^体重^JC10").set(5, format_number(38 + rng_.between(0, 600) / 10.0, 1));
      weight.set(6, "kg^kg^ISO+").set(11, "F");
      add(weight);
      static constexpr std::array<std::string_view, 4> blood{"A", "B", "O", "AB"};
      const std::string blood_type = str(blood[rng_.below(blood.size())]);
      Segment abo("OBX");
      abo.set(1, "3").set(2, "CWE").set(3, "5H010000009199911^血液型-ABO式^JC10").set(5, blood_type + "^" + blood_type + "^JSHR002");
      abo.set(11, "F");
      add(abo);
      if (rng_.chance(0.3)) {
        const Allergen& allergen = rng_.pick(allergens());
        Segment al1("AL1");
        al1.set(1, "1").set(2, str(allergen.type) + "^" + str(allergen.type_name) + "^HL70127");
        al1.set(3, str(allergen.code) + "^" + str(allergen.name) + "^" + str(allergen.system));
        add(al1);
      }
      Segment in1("IN1");
      in1.set(1, "1").set(2, "67^国民健康保険^JHSD0001").set(3, "138057").set(12, e_.event.yyyymmdd());
      in1.set(17, "SEL^本人^HL70063");
      add(in1);
    } else if (event == "A23" || event == "A54" || event == "A55") {
      add(pv1(false, false));
    } else if (event == "A04" || event == "A01" || event == "A11") {
      add(pv1(true, false));
    } else if (event == "A03" || event == "A13") {
      add(pv1(false, true));
    } else if (event == "A60") {
      const int count = rng_.between(1, 3);
      for (int i = 1; i <= count; ++i) {
        const Allergen& allergen = rng_.pick(allergens());
        Segment iam("IAM");
        iam.set(1, std::to_string(i)).set(2, str(allergen.type) + "^" + str(allergen.type_name) + "^HL70127");
        iam.set(3, str(allergen.code) + "^" + str(allergen.name) + "^" + str(allergen.system));
        iam.set(4, rng_.chance(0.5) ? "MI^軽度^HL70128" : "MO^中等度^HL70128").set(5, str(allergen.reaction));
        iam.set(6, "A^追加^HL70323").set(11, e_.event.yyyymmdd().substr(0, 6));
        add(iam);
      }
    } else {
      // Planned/performed movements carry their date in PV2 or EVN.
      add(pv1(false, false));
      Segment pv2("PV2");
      pv2.set(1, e_.ward);
      if (kind_.care_date == C::pv2_8) pv2.set(8, e_.event.yyyymmdd());
      if (kind_.care_date == C::pv2_9) pv2.set(9, e_.event.yyyymmdd());
      if (kind_.care_date == C::pv2_47) pv2.set(47, e_.event.yyyymmddhhmm());
      if (kind_.care_date != C::evn_6) add(pv2);
    }
  }

  Segment orc(std::string_view control) {
    Segment orc("ORC");
    orc.set(1, e_.order_cancel ? "CA" : str(control)).set(2, e_.order_no).set(9, e_.event.yyyymmddhhmmss());
    orc.set(10, doctor()).set(12, doctor()).set(13, location()).set(17, dept_cwe());
    orc.set(21, hospital_.facility_name).set(22, hospital_.address).set(23, hospital_.phone);
    orc.set(29, e_.inpatient ? "I^入院患者オーダ^HL70482" : "O^外来患者オーダ^HL70482");
    return orc;
  }

  void problem_list() {
    add_raw(pid_);
    const int count = rng_.between(1, 3);
    for (int i = 0; i < count; ++i) {
      const Diagnosis& diagnosis = rng_.pick(diagnoses());
      Segment prb("PRB");
      prb.set(1, "AD").set(2, e_.sent.yyyymmdd()).set(3, str(diagnosis.code) + "^" + str(diagnosis.name) + "^MDCDX2");
      prb.set(4, e_.sent.yyyymmdd() + padded(i, 7)).set(7, e_.sent.yyyymmdd());
      prb.set(10, str(diagnosis.icd10) + "^^I10").set(16, e_.sent.yyyymmdd());
      prb.set(19, i == 0 ? "1^主診断^JHSD0007" : "2^副診断^JHSD0007");
      add(prb);
    }
    add(orc("NW"));
  }

  void diet_order() {
    add_raw(pid_);
    add(pv1(false, false));
    add(orc("NW"));
    Segment tq1("TQ1");
    tq1.set(1, "1").set(3, "TID&１日３回&HL70335").set(7, e_.event.yyyymmddhhmm()).set(9, "R^ルーチン^HL70485");
    add(tq1);
    Segment ods("ODS");
    ods.set(1, "D").set(3, "001^^99XY3").set(4, str(rng_.pick(diet_comments())));
    add(ods);
  }

  void prescription() {
    add_raw(pid_);
    add(pv1(false, false));
    const int count = rng_.between(1, 3);
    for (int i = 1; i <= count; ++i) {
      const Drug& drug = rng_.pick(oral_drugs());
      add(orc("NW"));
      const int per_dose = rng_.between(1, 2);
      const int days = rng_.pick(std::span<const int>(std::array{7, 14, 28, 30}));
      Segment rxe("RXE");
      rxe.set(2, str(drug.hot9) + "^" + str(drug.name) + "^HOT9").set(3, std::to_string(per_dose));
      rxe.set(5, str(drug.unit_code) + "^" + str(drug.unit_name) + "^MR9P").set(10, std::to_string(per_dose * days * 3));
      rxe.set(11, str(drug.unit_code) + "^" + str(drug.unit_name) + "^MR9P");
      rxe.set(21, e_.inpatient ? "IHP^入院処方^MR9P" : "OHP^外来処方^MR9P~OHI^院内処方^MR9P");
      add(rxe);
      Segment tq1("TQ1");
      tq1.set(1, std::to_string(i)).set(3, str(rng_.pick(dosage_instructions()))).set(6, std::to_string(days) + "^d");
      tq1.set(7, e_.event.yyyymmdd() + "00");
      add(tq1);
      Segment rxr("RXR");
      rxr.set(1, "PO^口^HL70162");
      add(rxr);
    }
  }

  void injection_order() {
    add_raw(pid_);
    add(pv1(false, false));
    add(orc("NW"));
    const Drug& base = injections()[0];
    const Drug& additive = rng_.pick(injections().subspan(1));
    Segment rxe("RXE");
    rxe.set(2, "00^一般^99I02").set(3, "500").set(5, "ML^ミリリットル^MR9P").set(6, "INJ^注射剤^MR9P");
    rxe.set(21, "IHP^入院処方^MR9P~FTP^定時処方^99I01").set(23, "100").set(24, "ml/hr^ミリリッター／時間^ISO+");
    add(rxe);
    Segment tq1("TQ1");
    tq1.set(1, "1").set(7, e_.event.yyyymmddhhmm()).set(8, e_.event.plus_minutes(300).yyyymmddhhmm());
    add(tq1);
    Segment rxr("RXR");
    rxr.set(1, "IV^静脈内^HL70162").set(3, "IVP^点滴ポンプ^HL70164");
    add(rxr);
    for (const Drug* drug : {&base, &additive}) {
      Segment rxc("RXC");
      rxc.set(1, drug == &base ? "B" : "A").set(2, str(drug->hot9) + "^" + str(drug->name) + "^HOT9").set(3, "1");
      rxc.set(4, str(drug->unit_code) + "^" + str(drug->unit_name) + "^MR9P");
      add(rxc);
    }
  }

  void administration() {
    add_raw(pid_);
    add(pv1(false, false));
    add(orc("NW"));
    const bool injection = kind_.data_type == "OMP-12";
    const Drug& drug = injection ? rng_.pick(injections()) : rng_.pick(oral_drugs());
    Segment rxa("RXA");
    rxa.set(1, "0").set(2, "1").set(3, e_.event.yyyymmddhhmmss()).set(4, e_.event.plus_minutes(injection ? 300 : 1).yyyymmddhhmmss());
    rxa.set(5, str(drug.hot9) + "^" + str(drug.name) + "^HOT9").set(6, "1");
    rxa.set(7, str(drug.unit_code) + "^" + str(drug.unit_name) + "^MR9P");
    rxa.set(10, doctor()).set(20, "CP").set(22, e_.sent.yyyymmddhhmmss());
    add(rxa);
    Segment rxr("RXR");
    rxr.set(1, injection ? "IV^静脈内^HL70162" : "PO^口^HL70162");
    add(rxr);
  }

  Segment spm(bool with_collection_time) {
    Segment spm("SPM");
    spm.set(1, "1").set(2, e_.order_no).set(4, "023^血清^JC10");
    if (with_collection_time) spm.set(17, e_.event.yyyymmddhhmm());
    return spm;
  }

  void lab_order() {
    add_raw(pid_);
    add(pv1(false, false));
    add(spm(false));
    add(orc("NW"));
    Segment obr("OBR");
    obr.set(1, "1").set(2, e_.order_no).set(4, "E002^生化学的検査^99O03").set(16, doctor());
    add(obr);
    const int count = rng_.between(3, 6);
    for (int i = 1; i <= count; ++i) {
      const LabTest& test = lab_tests()[static_cast<std::size_t>(i - 1) % lab_tests().size()];
      Segment obx("OBX");
      obx.set(1, std::to_string(i)).set(3, str(test.jlac10) + "^" + str(test.name) + "^JC10").set(11, "O");
      add(obx);
    }
  }

  void lab_result() {
    add_raw(pid_);
    add(pv1(false, false));
    add(spm(true));
    Segment obr("OBR");
    obr.set(1, "1").set(2, e_.order_no).set(4, "E002^生化学的検査^99O03").set(7, e_.event.yyyymmdd());
    obr.set(16, doctor()).set(22, e_.sent.yyyymmddhhmmss());
    add(obr);
    Segment orc_sc = orc("SC");
    orc_sc.set(5, "CM");
    add(orc_sc);
    const int count = rng_.between(4, 10);
    for (int i = 1; i <= count; ++i) {
      const LabTest& test = lab_tests()[static_cast<std::size_t>(i - 1) % lab_tests().size()];
      const double span = test.high - test.low;
      const double value = test.low - span * 0.2 + span * 1.4 * static_cast<double>(rng_.below(1000)) / 1000.0;
      Segment obx("OBX");
      obx.set(1, std::to_string(i)).set(2, "NM").set(3, str(test.jlac10) + "^" + str(test.name) + "^JC10");
      obx.set(5, format_number(value < 0 ? 0 : value, test.decimals)).set(6, str(test.unit) + "^" + str(test.unit) + "^99XYZ");
      obx.set(7, format_number(test.low, test.decimals) + "-" + format_number(test.high, test.decimals));
      obx.set(8, value < test.low ? "L" : value > test.high ? "H" : "N").set(11, "F").set(14, e_.event.yyyymmddhhmm());
      add(obx);
    }
  }

  [[nodiscard]] std::pair<std::string, std::string> exam() const {
    const std::string_view type = kind_.data_type;
    if (type == "OMG-01" || type == "OMG-11") return {"10000002000102000000010000000000", "胸部.Ｘ線単純撮影.立位正面(A→P)"};
    if (type == "OMG-02" || type == "OMG-12") return {"11000000100", "検査.上部.-.-.上部通常内視鏡.-"};
    return {"9A110", "標準１２誘導心電図"};
  }

  void exam_order() {
    add_raw(pid_);
    add(pv1(false, false));
    add(orc("NW"));
    Segment tq1("TQ1");
    tq1.set(1, "1").set(9, "R^^HL70485");
    add(tq1);
    const auto [code, name] = exam();
    const std::string system = kind_.data_type == "OMG-03" ? "JC10" : kind_.data_type == "OMG-02" ? "LENDO" : "JJ1017";
    Segment obr("OBR");
    obr.set(2, e_.order_no).set(4, code + "^" + name + "^" + system).set(16, doctor());
    add(obr);
    if (kind_.data_type == "OMG-02") {
      Segment obx("OBX");
      obx.set(1, "1").set(2, "TX").set(3, "MS3-34^臨床病名^JSHR").set(5, str(rng_.pick(diagnoses()).name) + "の疑い").set(11, "F");
      add(obx);
    }
  }

  void exam_done() {
    add_raw(pid_);
    add(pv1(false, false));
    add(orc("NW"));
    const auto [code, name] = exam();
    const std::string system = kind_.data_type == "OMG-12" ? "LENDO" : "JJ1017";
    Segment obr("OBR");
    obr.set(2, e_.order_no).set(4, code + "^" + name + "^" + system).set(7, e_.event.yyyymmdd()).set(16, doctor());
    obr.set(22, e_.sent.yyyymmddhhmmss()).set(25, "F");
    add(obr);
    Segment ipc("IPC");
    ipc.set(1, "A" + e_.order_no).set(2, "P" + e_.order_no.substr(9)).set(3, "1.2.392.200036.9116." + e_.order_no);
    ipc.set(5, kind_.data_type == "OMG-12" ? "ES^^DCM" : "CR^^DCM");
    add(ipc);
  }

  void exam_report() {
    add_raw(pid_);
    add(pv1(false, false));
    const auto [code, name] = exam();
    Segment obr("OBR");
    obr.set(1, "1").set(2, e_.order_no).set(4, code + "^" + name + "^JC10").set(7, e_.event.yyyymmdd()).set(16, doctor());
    obr.set(22, e_.sent.yyyymmddhhmmss()).set(25, "F");
    add(obr);
    static constexpr std::array<std::string_view, 3> findings{"正常範囲", "洞性徐脈", "心筋虚血疑い"};
    Segment obx("OBX");
    obx.set(1, "1").set(2, "TX").set(3, "9A100&IMP^心電図所見^JC10").set(5, str(findings[rng_.below(3)])).set(11, "F");
    add(obx);
    Segment rate("OBX");
    rate.set(1, "2").set(2, "NM").set(3, "32769^心拍数^99MFR").set(5, std::to_string(rng_.between(52, 96))).set(6, "bpm").set(11, "F");
    add(rate);
  }

  const Hospital& hospital_;
  std::string_view pid_;
  const MessageKind& kind_;
  const Encounter& e_;
  Rng& rng_;
  std::string out_;
};

}  // namespace

std::string pid_segment(const Patient& patient, bool full) {
  Segment pid("PID");
  pid.set(1, "0001").set(3, patient.pid3()).set(5, patient.pid5()).set(7, yyyymmdd(patient.birth));
  pid.set(8, std::string(1, patient.sex));
  if (full) {
    pid.set(11, "^^^^" + std::string(patient.address.postcode) + "^JPN^H^" + std::string(patient.address.text) +
                    patient.house_number);
    pid.set(13, "^PRN^PH^^^^^^^^^" + patient.phone);
  }
  return pid.text();
}

std::string build_message_with_pid(const Hospital& hospital, std::string_view pid, const MessageKind& kind,
                                   const Encounter& encounter, Rng& rng) {
  return MessageWriter(hospital, pid, kind, encounter, rng).build();
}

std::string build_message(const Hospital& hospital, const Patient& patient, const MessageKind& kind,
                          const Encounter& encounter, Rng& rng) {
  const bool full = kind.data_type == "ADT-00" || kind.data_type == "OMP-01";
  const std::string pid = pid_segment(patient, full);
  return build_message_with_pid(hospital, pid, kind, encounter, rng);
}

}  // namespace medgw::sample
