#include <receiver/commands.hpp>

#include <receiver/identifiers.hpp>
#include <receiver/store.hpp>

#include <crypto/patient_tag.hpp>

#include <base/json.hpp>
#include <base/time_format.hpp>

#include <iostream>

namespace medgw::receiver {
namespace {

std::string when(std::int64_t ms) {
  return ms == 0 ? std::string("?") : base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

void print_text(const ReceiverConfig& config, const std::vector<FacilityReport>& reports) {
  std::cout << "medgw-receiver status: " << config.data_dir.string() << "\n";
  if (reports.empty()) std::cout << "  no objects received yet\n";
  for (const auto& report : reports) {
    std::cout << "  facility " << report.facility << ": " << report.objects << " objects (" << report.bytes
              << " bytes), highest seq " << report.highest_seq << ", landed through " << report.landed_through << ", "
              << report.open_uploads << " uploads open";
    if (report.gaps.empty()) {
      std::cout << ", no gaps\n";
    } else {
      std::cout << ", MISSING seq";
      for (const auto& [from, to] : report.gaps) std::cout << " " << from << (to != from ? "-" + std::to_string(to) : "");
      std::cout << "\n";
    }
    for (const Quarantined& item : report.quarantined) {
      std::cout << "    QUARANTINED seq " << item.seq << ": " << item.reason << " (since " << when(item.since_ms)
                << "); resolve: medgw-receiver landing retry|skip " << item.seq << " --facility " << report.facility
                << "\n";
    }
    if (!report.paused_reason.empty()) {
      std::cout << "    landing PAUSED at seq " << report.landed_through + 1 << ": " << report.paused_reason << " (since "
                << when(report.paused_since_ms) << "; tried again automatically)\n";
    }
    if (report.skipped > 0) std::cout << "    " << report.skipped << " objects skipped by an operator (kept in the store)\n";
  }
}

void print_json(const std::vector<FacilityReport>& reports) {
  base::JsonWriter json;
  json.begin_object().key("facilities").begin_array();
  for (const auto& report : reports) {
    json.begin_object();
    json.field("facility", report.facility).field("objects", report.objects).field("bytes", report.bytes);
    json.field("highest_seq", report.highest_seq).field("landed_through", report.landed_through);
    json.field("open_uploads", report.open_uploads).field("skipped", report.skipped);
    json.key("gaps").begin_array();
    for (const auto& [from, to] : report.gaps) json.begin_array().value(from).value(to).end_array();
    json.end_array();
    json.key("quarantined").begin_array();
    for (const Quarantined& item : report.quarantined) {
      json.begin_object().field("seq", item.seq).field("reason", item.reason).field("since", when(item.since_ms)).end_object();
    }
    json.end_array();
    json.key("landing_paused");
    if (report.paused_reason.empty()) {
      json.null();
    } else {
      json.begin_object().field("reason", report.paused_reason).field("since", when(report.paused_since_ms)).end_object();
    }
    json.end_object();
  }
  json.end_array().end_object();
  std::cout << json.text() << "\n";
}

}  // namespace

int command_status(const ReceiverConfig& config, bool json) {
  std::filesystem::create_directories(config.data_dir);
  Store store(config.data_dir / "receiver.db");
  const auto reports = store.report();
  if (json) {
    print_json(reports);
  } else {
    print_text(config, reports);
  }
  return 0;
}

int command_landing(const ReceiverConfig& config, const std::string& action, const std::string& seq_text,
                    const std::string& facility) {
  const auto seq = parse_seq(seq_text);
  if ((action != "retry" && action != "skip") || !seq || !is_facility_code(facility)) {
    std::cerr << "medgw-receiver: landing retry|skip SEQ --facility CODE (SEQ a number, CODE the 9-digit facility code)\n";
    return 2;
  }
  if (config.facility(facility) == nullptr) {
    std::cerr << "medgw-receiver: facility " << facility << " is not in " << "receiver.yaml\n";
    return 2;
  }
  Store store(config.data_dir / "receiver.db");
  if (action == "skip") {
    const auto skipped = store.skip_landing(facility, *seq, base::unix_ms_now());
    if (!skipped) {
      std::cerr << "medgw-receiver: " << skipped.error().message << " (see medgw-receiver status)\n";
      return 1;
    }
    std::cout << "seq " << *seq << " of facility " << facility
              << ": skipped; it stays in the store and is recorded as skipped (landing retry lands it later)\n";
    return 0;
  }
  const auto again = store.retry_landing(facility, *seq, base::unix_ms_now());
  if (!again) {
    std::cerr << "medgw-receiver: " << again.error().message << " (see medgw-receiver status)\n";
    return 1;
  }
  std::cout << "seq " << *seq << " of facility " << facility << ": queued for landing again";
  if (*again > 1) std::cout << ", then the " << (*again - 1) << " objects after it again, in seq order";
  std::cout << "; a running medgw-receiver picks this up within seconds (medgw-receiver status shows the result)\n";
  return 0;
}

int command_patient_tag(const ReceiverConfig& config, const std::string& patient_id) {
  std::filesystem::create_directories(config.data_dir);
  std::cout << crypto::PatientTagger::load_or_create(config.data_dir / "patient-tag.key").tag(patient_id) << "\n";
  return 0;
}

}  // namespace medgw::receiver
