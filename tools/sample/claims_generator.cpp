#include <tools/sample/claims_generator.hpp>

#include <tools/sample/encoding.hpp>

#include <array>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <vector>

namespace medgw::sample {
namespace {

constexpr std::uint64_t receipt_stream = 0x5EC3;
constexpr std::uint64_t dpc_stream = 0xD9C0;

std::string join(const std::vector<std::string>& fields, char separator) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(separator);
    line += fields[i];
  }
  return line;
}

std::string fixed(std::uint64_t value, int width) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%0*llu", width, static_cast<unsigned long long>(value));
  return text.data();
}

std::uint64_t month_key(Day month) { return static_cast<std::uint64_t>(month.time_since_epoch().count()); }

// The months covered by claims, oldest first.
std::vector<Day> claim_months(const Settings& settings) {
  std::vector<Day> months;
  const Day last = first_of_month(settings.history_end);
  for (int k = settings.claim_months - 1; k >= 0; --k) months.push_back(add_months(last, -k));
  return months;
}

int days_in_month(Day month) { return static_cast<int>((add_months(month, 1) - month).count()); }

std::int64_t export_time(Day month) {
  // Claims are exported around the 10th of the following month, 09:00 JST.
  return LocalTime{add_months(month, 1) + std::chrono::days(9), 9LL * 3'600'000}.unix_seconds();
}

struct ReceiptItem {
  std::string record;  // SI or IY
  std::string category;
  std::string code;
  std::string quantity;
  int points;
};

}  // namespace

bool has_receipt(const Settings& settings, Day month, std::size_t index) {
  return mix(settings.seed ^ receipt_stream ^ month_key(month), index) % 100 < 30;
}

bool has_dpc_stay(const Settings& settings, Day month, std::size_t index) {
  return mix(settings.seed ^ dpc_stream ^ month_key(month), index) % 100 < 4 || (index == 4 && month == first_of_month(settings.history_end));
}

void write_receipt_files(const Settings& settings, const Hospital& hospital, FileWriter& writer, ClaimCounts& counts) {
  const std::string prefecture = hospital.facility_code.substr(0, 2);
  const std::string institution = hospital.facility_code.substr(2);
  for (Day month : claim_months(settings)) {
    const Day billing = add_months(month, 1);
    StreamedFile file(writer, std::string(receipt_root) + "/" + yyyymm(billing) + "/RECEIPTC.UKE");
    std::string text;
    text += join({"IR", "1", prefecture, "1", institution, "", hospital.facility_name, yyyymm(billing), "00",
                  "0335060000"}, ',') + "\r\n";
    std::uint64_t receipt_number = 0;
    std::uint64_t total_records = 0;
    std::uint64_t total_points = 0;
    for (std::size_t index = 0; index < settings.patients; ++index) {
      if (!has_receipt(settings, month, index)) continue;
      const Patient patient = make_patient(settings, index);
      if (patient.registered > add_months(month, 1)) continue;  // not yet a patient
      Rng rng(mix(settings.seed ^ receipt_stream ^ month_key(month) ^ 0xABCDEF, index));
      ++receipt_number;
      const int kind_roll = static_cast<int>(rng.below(100));
      const bool public_only = kind_roll < 5;
      const bool with_public = !public_only && kind_roll < 20;
      const std::string type = public_only ? "1212" : with_public ? "1122" : (patient.insurer.kind == "39" ? "1118" : "1112");

      std::set<int> days;
      const int visits = rng.between(1, 3);
      const int month_days = days_in_month(month);
      for (int i = 0; i < visits; ++i) days.insert(rng.between(1, month_days));
      std::vector<ReceiptItem> items;
      const bool first_visit = patient.registered >= month;
      const Procedure& visit_fee = first_visit ? outpatient_procedures()[0] : outpatient_procedures()[1];
      items.push_back({"SI", std::string(visit_fee.category), std::string(visit_fee.receipt), "", visit_fee.points});
      if (rng.chance(0.6)) {
        const Procedure& test = outpatient_procedures()[static_cast<std::size_t>(rng.between(3, 5))];
        items.push_back({"SI", std::string(test.category), std::string(test.receipt), "", test.points});
      }
      const int drugs = rng.between(0, 3);
      for (int i = 0; i < drugs; ++i) {
        const Drug& drug = rng.pick(oral_drugs());
        items.push_back({"IY", i == 0 ? "21" : "", std::string(drug.receipt), std::to_string(rng.between(1, 3)),
                         drug.points * rng.between(1, 14)});
      }
      std::uint64_t points = 0;
      for (const ReceiptItem& item : items) points += static_cast<std::uint64_t>(item.points) * days.size();

      std::vector<std::string> re(38);
      re[0] = "RE";
      re[1] = std::to_string(receipt_number);
      re[2] = type;
      re[3] = yyyymm(month);
      re[4] = patient.kanji_name();
      re[5] = patient.sex == 'M' ? "1" : "2";
      re[6] = yyyymmdd(patient.birth);
      re[7] = patient.insurer.kind == "39" ? "90" : "70";
      re[13] = patient.id;  // カルテ番号等
      re[36] = patient.kana_name();
      text += join(re, ',') + "\r\n";
      if (!public_only) {
        text += join({"HO", std::string(patient.insurer.number), patient.insurance_symbol, patient.insurance_number,
                      std::to_string(days.size()), std::to_string(points), "", "", "", "", "", "", "", "", ""}, ',') + "\r\n";
        ++total_records;
      }
      if (public_only || with_public) {
        const std::string payer = public_only ? "12" + fixed(130000 + rng.below(1000), 6)
                                              : "54" + fixed(136000 + rng.below(1000), 6);
        text += join({"KO", payer, fixed(1000000 + rng.below(8'999'999), 7), "", std::to_string(days.size()),
                      std::to_string(points), std::to_string(public_only ? 0 : rng.between(0, 5000)), "", "", "", "", ""}, ',') + "\r\n";
        ++total_records;
      }
      const int diagnoses_count = rng.between(1, 3);
      for (int i = 0; i < diagnoses_count; ++i) {
        const Diagnosis& diagnosis = rng.pick(diagnoses());
        text += join({"SY", std::string(diagnosis.code), yyyymmdd(patient.registered), "1", "", "", i == 0 ? "01" : "", ""}, ',') + "\r\n";
      }
      for (const ReceiptItem& item : items) {
        std::vector<std::string> line(44);
        line[0] = item.record;
        line[1] = item.category;
        line[2] = "1";
        line[3] = item.code;
        line[4] = item.quantity;
        line[5] = std::to_string(item.points);
        line[6] = std::to_string(days.size());
        for (int day : days) line[static_cast<std::size_t>(12 + day)] = "1";
        text += join(line, ',') + "\r\n";
      }
      total_points += points;  // = HO points, or the first KO's when public only
      if (text.size() > (1 << 20)) {
        file.append(to_cp932(text));  // CP932 is stateless: pieces encode independently
        text.clear();
      }
    }
    text += join({"GO", std::to_string(total_records), std::to_string(total_points), "99"}, ',') + "\r\n";
    file.append(to_cp932(text));
    file.append("\x1a");
    file.close(export_time(month));
    ++counts.receipt_files;
    counts.receipts += receipt_number;
  }
}

void write_dpc_files(const Settings& settings, const Hospital& hospital, FileWriter& writer, ClaimCounts& counts) {
  const std::string& facility = hospital.facility_code;
  for (Day month : claim_months(settings)) {
    const int month_days = days_in_month(month);
    const std::string folder = std::string(dpc_root) + "/" + yyyymm(month) + "/";
    const std::string suffix = "_" + facility + "_" + yymm(month) + ".txt";
    StreamedFile ff1_file(writer, folder + "FF1" + suffix);
    StreamedFile ef_file(writer, folder + "EFn" + suffix);
    StreamedFile d_file(writer, folder + "Dn" + suffix);
    StreamedFile h_file(writer, folder + "Hn" + suffix);
    std::string ff1;
    std::string ef =
        "施設コード\tデータ識別番号\t退院年月日\t入院年月日\tデータ区分\t順序番号\t行為明細番号\t病院点数マスタコード\t"
        "レセプト電算処理システム用コード\t解釈番号\t診療明細名称\t使用量\t基準単位\t明細点数・金額\t円・点区分\t"
        "出来高実績点数\t行為明細区分情報\t行為点数\t行為薬剤料\t行為材料料\t行為回数\t保険者番号\tレセプト種別コード\t"
        "実施年月日\tレセプト科区分\t診療科区分\t医師コード\t病棟コード\t病棟区分\t入外区分\t施設タイプ\r\n";
    std::string d;
    std::string h;
    auto flush = [&](bool always) {
      for (auto [text, file] : {std::pair{&ff1, &ff1_file}, {&ef, &ef_file}, {&d, &d_file}, {&h, &h_file}}) {
        if (always || text->size() > (1 << 20)) {
          file->append(to_cp932(*text));
          text->clear();
        }
      }
    };
    for (std::size_t index = 0; index < settings.patients; ++index) {
      if (!has_dpc_stay(settings, month, index)) continue;
      const Patient patient = make_patient(settings, index);
      Rng rng(mix(settings.seed ^ dpc_stream ^ month_key(month) ^ 0x123457, index));
      ++counts.dpc_patients;
      const int admit_day = rng.between(1, month_days);
      const int length = rng.between(2, 24);
      const Day admit = month + std::chrono::days(admit_day - 1);
      const Day discharge = admit + std::chrono::days(length);
      const bool discharged = discharge < add_months(month, 1);
      const std::string admitted = yyyymmdd(admit);
      const std::string discharged_text = discharged ? yyyymmdd(discharge) : "00000000";
      const int last_day = discharged ? static_cast<int>((discharge - month).count()) + 1 : month_days;
      const Diagnosis& main_diagnosis = rng.pick(diagnoses());
      const std::string ward = std::string(rng.pick(wards()));
      const Doctor& doctor = rng.pick(hospital.doctors);
      const std::string insurer(patient.insurer.number);

      auto ff1_row = [&](std::string_view code, std::vector<std::string> payload) {
        payload.resize(9);
        std::vector<std::string> row{facility, patient.dpc_id, admitted, "1", "0", std::string(code), "20240401", "0"};
        row.insert(row.end(), payload.begin(), payload.end());
        ff1 += join(row, '\t') + "\r\n";
      };
      std::string postcode(patient.address.postcode);
      postcode.erase(3, 1);
      ff1_row("A000010", {yyyymmdd(patient.birth), patient.sex == 'M' ? "1" : "2", postcode});
      ff1_row("A000020", {"1", "100", "0"});
      if (discharged) ff1_row("A000030", {"1", "1"});
      ff1_row("A006010", {"", std::string(main_diagnosis.icd10), "", "", "", "", "", "", std::string(main_diagnosis.name)});

      int order = 0;
      for (int day = admit_day; day <= last_day; ++day) {
        const std::string performed = yyyymmdd(month + std::chrono::days(day - 1));
        auto ef_row = [&](std::string_view category, int detail, std::string_view code, std::string_view name,
                          std::string amount, std::string detail_points, std::string act_points) {
          std::vector<std::string> row{facility, patient.dpc_id, discharged_text, admitted, std::string(category),
                                       fixed(static_cast<std::uint64_t>(order), 4), fixed(static_cast<std::uint64_t>(detail), 3),
                                       std::string(code.substr(0, 6)), std::string(code), "", std::string(name), amount, "000",
                                       detail_points, "0", detail == 0 ? act_points : "0", "000000000000",
                                       detail == 0 ? act_points : "0", "0", "0", detail == 0 ? "1" : "0", insurer,
                                       "1111", performed, "01", "010", doctor.id, ward, "0", "0", ""};
          ef += join(row, '\t') + "\r\n";
          ++counts.ef_rows;
        };
        ++order;
        ef_row("90", 0, "190117710", "急性期一般入院料１", "0000000.000", "0", "1688");
        ef_row("90", 1, "190117710", "急性期一般入院料１", "0000001.000", "1688", "0");
        if (rng.chance(0.6)) {
          ++order;
          const Drug& drug = rng.pick(oral_drugs());
          const std::string points = std::to_string(drug.points * 3);
          ef_row("21", 0, drug.receipt, drug.name, "0000000.000", "0", points);
          ef_row("21", 1, drug.receipt, drug.name, "0000003.000", points, "0");
        }
        // H file: nursing-need scores per day (layout after FF1, domain.md §2.5).
        std::vector<std::string> h_row{facility, ward, patient.dpc_id, discharged_text, admitted, performed,
                                       "ASS0010", "20240601", "0"};
        for (int item = 0; item < 10; ++item) h_row.push_back(std::to_string(rng.between(0, 2)));
        h += join(h_row, '\t') + "\r\n";
      }
      const int covered_days = last_day - admit_day + 1;
      std::vector<std::string> d_row{facility, patient.dpc_id, discharged_text, admitted, "93", "0001", "930000000",
                                     "930000000", "", "包括評価部分", std::to_string(2500 * covered_days), "0", "0", "0",
                                     std::to_string(covered_days), insurer, "1111", yyyymmdd(admit), "01", "010",
                                     doctor.id, ward, "0", "0", "", yyyymmdd(admit),
                                     yyyymmdd(month + std::chrono::days(last_day - 1)), yyyymmdd(admit),
                                     "060340xx99x00x", "1.4523"};
      d += join(d_row, '\t') + "\r\n";
      flush(false);
    }
    flush(true);
    const std::int64_t mtime = export_time(month);
    for (StreamedFile* file : {&ff1_file, &ef_file, &d_file, &h_file}) file->close(mtime);
    counts.dpc_files += 4;
  }
}

}  // namespace medgw::sample
