#include <claims/patient_set.hpp>

namespace medgw::claims {

void PatientSet::add(const PatientKeys& patient) {
  if (!patient.patient_id.empty()) charts_.insert(patient.patient_id);
  const std::string& dpc = patient.dpc_id.empty() ? patient.patient_id : patient.dpc_id;
  if (!dpc.empty()) dpc_ids_.insert(dpc);
  const std::string kana = normalize_kana(patient.kana_name);
  if (!kana.empty() && patient.birth_date.size() == 8) people_.emplace(kana, patient.birth_date);
}

bool PatientSet::removes(std::string_view dpc_id) { return dpc_ids_.contains(dpc_id); }

ReceiptVerdict PatientSet::judge(const ReceiptHead& head) {
  if (const std::string_view chart = head.chart(); !chart.empty() && charts_.contains(chart)) {
    return ReceiptVerdict::remove;
  }
  if (people_.empty()) return ReceiptVerdict::keep;
  std::string kana = head.kana();
  std::string birth = head.birth_date();
  if (!kana.empty() && !birth.empty() && people_.contains({std::move(kana), std::move(birth)})) {
    return ReceiptVerdict::remove;
  }
  return ReceiptVerdict::keep;
}

}  // namespace medgw::claims
