#include <tools/sample/ssmix2_generator.hpp>

#include <tools/sample/encoding.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

namespace medgw::sample {
namespace {

struct Version {
  const MessageKind* kind;
  Encounter encounter;
};

struct Item {
  std::vector<Version> versions;  // oldest first; the last is current
  bool deleted = false;
};

struct ExtendedEvent {
  LocalTime when;
  Department department;
  bool discharge_summary;  // else a vitals record
};

std::size_t kind_index(const MessageKind& kind) {
  return static_cast<std::size_t>(&kind - message_kinds().data());
}

class HistoryPlanner {
 public:
  HistoryPlanner(const Settings& settings, const Hospital& hospital, const Patient& patient, Rng& rng)
      : settings_(settings), hospital_(hospital), patient_(patient), rng_(rng) {}

  std::vector<Item> plan() {
    const Day start = patient_.registered;
    const Day end = settings_.history_end;
    add("ADT-00", at(start, 9 * 60), false);
    if (rng_.chance(0.3) || forced("ADT-61")) add("ADT-61", at(later(start, 30), 10 * 60), false);
    if (rng_.chance(0.6) || forced("PPR-01")) add("PPR-01", at(later(start, 60), 11 * 60), false);

    std::set<Day> visit_days;
    const int visits = rng_.between(1, 4);
    for (int i = 0; i < visits; ++i) visit_days.insert(later(start, static_cast<int>((end - start).count())));
    for (Day day : visit_days) outpatient_visit(day);

    const bool stay = rng_.chance(0.12) || forces_inpatient();
    if (stay && (end - start).count() > 30) inpatient_stay(later(start + std::chrono::days(1), static_cast<int>((end - start).count()) - 25));

    // Updates, cancellations and deletions over the planned items.
    for (std::size_t i = 0; i < items_.size(); ++i) {
      Item& item = items_[i];
      const MessageKind& kind = *item.versions.back().kind;
      const bool cancellable = has_cancel_variant(kind);
      if ((cancellable && rng_.chance(0.03)) || forced_cancel(kind)) {
        revise(item, &message_kind(kind.data_type, true));
      } else if (rng_.chance(0.08) || (patient_.index == 0 && i == 1)) {
        revise(item, item.versions.back().kind);
      } else if (rng_.chance(0.02) || (patient_.index == 1 && i == items_.size() - 1)) {
        item.deleted = true;
      }
    }
    return std::move(items_);
  }

  [[nodiscard]] const std::vector<ExtendedEvent>& extended_events() const { return extended_; }

 private:
  // Coverage: patients 0..35 each force one of the 36 message kinds, so that
  // even a 36-patient tree holds every kind.
  [[nodiscard]] const MessageKind* forced_kind() const {
    return patient_.index < message_kinds().size() ? &message_kinds()[patient_.index] : nullptr;
  }
  [[nodiscard]] bool forced(std::string_view data_type) const {
    const MessageKind* kind = forced_kind();
    return kind != nullptr && kind->data_type == data_type;
  }
  [[nodiscard]] bool forced_cancel(const MessageKind& base) const {
    const MessageKind* kind = forced_kind();
    return kind != nullptr && kind->cancel && kind->data_type == base.data_type && !cancel_forced_done_.contains(base.data_type);
  }
  [[nodiscard]] bool forces_inpatient() const {
    const MessageKind* kind = forced_kind();
    if (kind == nullptr) return false;
    const std::string_view type = kind->data_type;
    return type.starts_with("ADT-2") || type.starts_with("ADT-3") || type.starts_with("ADT-4") ||
           type.starts_with("ADT-5") || type == "ADT-01" || type == "OMD" || type == "OMP-02" ||
           type == "OMP-11" || type == "OMP-12";
  }
  static bool has_cancel_variant(const MessageKind& kind) {
    return std::any_of(message_kinds().begin(), message_kinds().end(),
                       [&](const MessageKind& other) { return other.cancel && other.data_type == kind.data_type; });
  }

  Day later(Day from, int max_days) {
    if (max_days <= 0) return from;
    Day day = from + std::chrono::days(rng_.below(static_cast<std::uint64_t>(max_days) + 1));
    return std::min(day, settings_.history_end);
  }
  LocalTime at(Day day, int minute) { return LocalTime{day, static_cast<std::int64_t>(minute) * 60'000 + rng_.between(0, 59'999)}; }

  std::string next_order_no() {
    std::array<char, 24> text{};
    std::snprintf(text.data(), text.size(), "%09llu%06d", static_cast<unsigned long long>(patient_.index % 1'000'000'000ULL),
                  ++order_counter_);
    return text.data();
  }

  Encounter encounter(LocalTime event, bool inpatient, const Department& department) {
    Encounter e;
    e.event = event;
    e.sent = event.plus_minutes(rng_.between(1, 90));
    e.department = department;
    e.doctor = &rng_.pick(hospital_.doctors);
    e.inpatient = inpatient;
    e.ward = inpatient ? std::string(rng_.pick(wards())) : std::string();
    e.room = inpatient ? e.ward.substr(0, 1) + "0" + std::to_string(rng_.between(1, 9)) : std::string();
    return e;
  }

  Item& add(std::string_view data_type, LocalTime event, bool inpatient, const std::string& order_no = {}) {
    const MessageKind& kind = message_kind(data_type);
    Encounter e = encounter(event, inpatient, patient_.department);
    e.order_no = kind.has_order ? (order_no.empty() ? next_order_no() : order_no) : "999999999999999";
    if (inpatient && !stay_ward_.empty()) {
      e.ward = stay_ward_;
      e.room = stay_room_;
    }
    items_.push_back(Item{{Version{&kind, e}}, false});
    return items_.back();
  }

  void revise(Item& item, const MessageKind* kind) {
    if (kind->cancel) cancel_forced_done_.insert(kind->data_type);
    Encounter e = item.versions.back().encounter;
    e.sent = e.sent.plus_minutes(rng_.between(30, 3000));
    item.versions.push_back(Version{kind, e});
  }

  void outpatient_visit(Day day) {
    const int minute = rng_.between(8 * 60 + 30, 16 * 60);
    add("ADT-12", at(day, minute), false);
    if (rng_.chance(0.7) || forced("OMP-01")) add("OMP-01", at(day, minute + 20), false);
    if (rng_.chance(0.5) || forced("OML-01") || forced("OML-11")) order_pair("OML-01", "OML-11", day, minute + 10);
    if (rng_.chance(0.12) || forced("OMG-01") || forced("OMG-11")) order_pair("OMG-01", "OMG-11", day, minute + 30);
    if (rng_.chance(0.08) || forced("OMG-03") || forced("OMG-13")) order_pair("OMG-03", "OMG-13", day, minute + 40);
    if (rng_.chance(0.04) || forced("OMG-02") || forced("OMG-12")) order_pair("OMG-02", "OMG-12", day, minute + 50);
    if (rng_.chance(0.05) || patient_.index == 2) extended_.push_back({at(day, minute + 5), patient_.department, false});
  }

  void order_pair(std::string_view order_type, std::string_view result_type, Day day, int minute) {
    Item& order = add(order_type, at(day, minute), false);
    const std::string order_no = order.versions.back().encounter.order_no;
    const Day result_day = std::min(day + std::chrono::days(rng_.between(0, 2)), settings_.history_end);
    // A same-day result comes after the order was sent.
    LocalTime result = at(result_day, rng_.between(9 * 60, 18 * 60));
    const LocalTime order_sent = order.versions.back().encounter.sent;
    if (result <= order_sent) result = order_sent.plus_minutes(rng_.between(20, 180));
    add(result_type, result, false, order_no);
  }

  void inpatient_stay(Day admit) {
    stay_ward_ = std::string(rng_.pick(wards()));
    stay_room_ = stay_ward_.substr(0, 1) + "0" + std::to_string(rng_.between(1, 9));
    const int length = rng_.between(3, 20);
    const Day discharge = admit + std::chrono::days(length);
    Item& planned = add("ADT-21", at(admit, 10 * 60), true);
    planned.versions.back().encounter.sent = at(admit - std::chrono::days(rng_.between(1, 7)), 15 * 60);
    add("ADT-22", at(admit, 10 * 60 + 30), true);
    add("OMD", at(admit, 11 * 60), true);
    const Day second = admit + std::chrono::days(1);
    Item& injection = add("OMP-02", at(second, 8 * 60), true);
    add("OMP-12", at(second, 9 * 60), true, injection.versions.back().encounter.order_no);
    add("OMP-11", at(second, 8 * 60 + 30), true);
    if (rng_.chance(0.3) || forced("ADT-41") || forced("ADT-42")) {
      const Day transfer = admit + std::chrono::days(rng_.between(1, length - 1));
      add("ADT-41", at(transfer, 9 * 60), true);
      add("ADT-42", at(transfer, 14 * 60), true);
    }
    if (rng_.chance(0.2) || forced("ADT-31") || forced("ADT-32")) {
      const Day leave = admit + std::chrono::days(rng_.between(1, length - 1));
      add("ADT-31", at(leave, 13 * 60), true);
      add("ADT-32", at(leave + std::chrono::days(1), 17 * 60), true);
    }
    if (rng_.chance(0.3) || forced("ADT-01")) add("ADT-01", at(admit + std::chrono::days(1), 9 * 60), true);
    add("ADT-51", at(discharge, 10 * 60), true).versions.back().encounter.sent = at(discharge - std::chrono::days(1), 16 * 60);
    add("ADT-52", at(discharge, 10 * 60), true);
    if (rng_.chance(0.5) || patient_.index == 3) extended_.push_back({at(discharge, 11 * 60), patient_.department, true});
  }

  const Settings& settings_;
  const Hospital& hospital_;
  const Patient& patient_;
  Rng& rng_;
  std::vector<Item> items_;
  std::vector<ExtendedEvent> extended_;
  std::set<std::string_view> cancel_forced_done_;
  std::string stay_ward_;
  std::string stay_room_;
  int order_counter_ = 0;
};

std::string care_date(const MessageKind& kind, const Encounter& encounter) {
  return kind.care_date == CareDateField::none ? std::string("-") : encounter.event.yyyymmdd();
}

std::string file_name(const Patient& patient, const MessageKind& kind, const Encounter& e, char flag) {
  return patient.id + "_" + care_date(kind, e) + "_" + std::string(kind.data_type) + "_" + e.order_no + "_" +
         e.sent.timestamp17() + "_" + (kind.department_in_name ? std::string(e.department.code) : std::string("-")) +
         "_" + std::string(1, flag);
}

void write_extended(const Patient& patient, const Hospital& hospital, const LocalTime& when, const Department& dept,
                    bool summary, int variant, FileWriter& writer, Ssmix2Counts& counts, Rng& rng) {
  const std::string date = when.yyyymmdd();
  const LocalTime sent = when.plus_minutes(rng.between(5, 240));
  const std::string base = std::string(extended_root) + "/" + patient_folder(patient.id) + "/" + date + "/";
  if (!summary) {
    // Vitals as HL7 ORU^R30; every third one with the 6-field folder name
    // seen in NHO's samples (no department).
    const std::string folder = base + "L-OBSERVATIONS^OBSERVATIONS^99ZL01/" + patient.id + "_" + date +
                               "_L-OBSERVATIONS_" + sent.timestamp17() + "." + std::to_string(variant) + "_" +
                               sent.timestamp17() + (variant % 3 == 0 ? "" : "_" + std::string(dept.code)) + "_1";
    std::string message = "MSH|^~\\&|VITAL|SEND|GW|RCV|" + sent.yyyymmddhhmmss() +
                          "||ORU^R30^ORU_R30|" + sent.timestamp17() +
                          "|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO\r";
    message += pid_segment(patient, false) + "\r";
    message += "OBR|1|||L-OBSERVATIONS^バイタル^99ZL01|||" + when.yyyymmddhhmm() + "\r";
    message += "OBX|1|NM|8310-5^体温^LN||" + std::to_string(36 + rng.between(0, 2)) + "." + std::to_string(rng.between(0, 9)) + "|Cel^℃^UCUM|||||F\r";
    message += "OBX|2|NM|8867-4^脈拍^LN||" + std::to_string(rng.between(55, 100)) + "|/min^回／分^UCUM|||||F\r";
    message += "OBX|3|NM|8480-6^収縮期血圧^LN||" + std::to_string(rng.between(100, 160)) + "|mm[Hg]^mmHg^UCUM|||||F\r";
    writer.write(folder + "/main_document.hl7", to_jis(message), sent.unix_seconds());
    ++counts.extended_files;
    return;
  }
  const std::string folder = base + "^（退院時サマリー）^^18842-5^退院時サマリー^LN/" + patient.id + "_" + date +
                             "_18842-5_" + sent.timestamp17() + "_" + sent.timestamp17() + "_" +
                             std::string(dept.code) + "_1";
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\n"
      "  <code code=\"18842-5\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"退院時サマリー\"/>\n"
      "  <title>退院時サマリー</title>\n"
      "  <effectiveTime value=\"" + sent.yyyymmddhhmmss() + "\"/>\n"
      "  <recordTarget><patientRole><id extension=\"" + patient.id + "\"/>\n"
      "    <patient><name>" + patient.kanji_name() + "</name></patient></patientRole></recordTarget>\n"
      "  <author><assignedAuthor><representedOrganization><name>" + hospital.facility_name +
      "</name></representedOrganization></assignedAuthor></author>\n"
      "  <component><section><title>入院経過</title><text>" + std::string(rng.pick(diagnoses()).name) +
      "にて入院。経過良好にて退院。</text></section></component>\n"
      "</ClinicalDocument>\n";
  writer.write(folder + "/document.xml", xml, sent.unix_seconds());
  writer.write(folder + "/style.css", "section { margin: 1em; }\n", sent.unix_seconds());
  counts.extended_files += 2;
}

}  // namespace

Ssmix2Counts& Ssmix2Counts::operator+=(const Ssmix2Counts& other) {
  for (std::size_t i = 0; i < by_kind.size(); ++i) by_kind[i] += other.by_kind[i];
  flag1 += other.flag1;
  flag2 += other.flag2;
  flag0 += other.flag0;
  extended_files += other.extended_files;
  return *this;
}

std::string patient_folder(std::string_view patient_id) {
  const std::string_view level1 = patient_id.substr(0, 3);
  const std::string_view level2 = patient_id.size() > 3 ? patient_id.substr(3, 3) : std::string_view();
  return std::string(level1) + "/" + std::string(level2) + "/" + std::string(patient_id);
}

void write_patient_ssmix2(const Settings& settings, const Hospital& hospital, const Patient& patient,
                          FileWriter& writer, Ssmix2Counts& counts) {
  Rng rng(mix(settings.seed ^ 0x55AA55AAULL, patient.index + 1));
  HistoryPlanner planner(settings, hospital, patient, rng);
  const std::vector<Item> items = planner.plan();
  const std::string folder = std::string(standard_root) + "/" + patient_folder(patient.id) + "/";
  for (const Item& item : items) {
    const std::size_t last = item.versions.size() - 1;
    for (std::size_t v = 0; v < item.versions.size(); ++v) {
      const Version& version = item.versions[v];
      const char flag = item.deleted ? '0' : (v == last ? '1' : '2');
      const std::string name = file_name(patient, *version.kind, version.encounter, flag);
      const std::string path = folder + care_date(*version.kind, version.encounter) + "/" +
                               std::string(version.kind->data_type) + "/" + name;
      writer.write(path, to_jis(build_message(hospital, patient, *version.kind, version.encounter, rng)),
                   version.encounter.sent.unix_seconds());
      ++counts.by_kind[kind_index(*version.kind)];
      (flag == '1' ? counts.flag1 : flag == '2' ? counts.flag2 : counts.flag0)++;
    }
    if (item.deleted) {
      // The delete notice: a new message with flag 0 (orders carry ORC-1 CA).
      const Version& current = item.versions.back();
      Encounter notice = current.encounter;
      notice.sent = notice.sent.plus_minutes(rng.between(60, 4000));
      notice.order_cancel = true;
      const std::string path = folder + care_date(*current.kind, notice) + "/" + std::string(current.kind->data_type) +
                               "/" + file_name(patient, *current.kind, notice, '0');
      writer.write(path, to_jis(build_message(hospital, patient, *current.kind, notice, rng)), notice.sent.unix_seconds());
      ++counts.by_kind[kind_index(*current.kind)];
      ++counts.flag0;
    }
  }
  int variant = 0;
  for (const ExtendedEvent& event : planner.extended_events()) {
    write_extended(patient, hospital, event.when, event.department, event.discharge_summary, variant++, writer,
                   counts, rng);
  }
}

}  // namespace medgw::sample
