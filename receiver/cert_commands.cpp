// medgw-receiver ticket|revoke|certs: the operator's side of the enrollment
// service (issue 22, docs/certificates.md), on data_dir/enrollment.db, with
// or without the receiver running (it picks changes up within a second).
#include <receiver/cert_commands.hpp>

#include <receiver/enrollment_registry.hpp>
#include <receiver/issuing_ca.hpp>

#include <base/json.hpp>
#include <base/output_file.hpp>
#include <base/private_file.hpp>
#include <base/time_format.hpp>

#include <charconv>
#include <iostream>

namespace medgw::receiver {
namespace {

std::string utc_text(std::int64_t ms) {
  return base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

// The registry, or nullopt after saying why there is none.
std::unique_ptr<EnrollmentRegistry> open_registry(const ReceiverConfig& config, std::string_view command) {
  if (!config.enrollment.enabled()) {
    std::cerr << "medgw-receiver " << command
              << ": receiver.yaml has no ca: section, so this receiver issues no certificates "
                 "(see docs/certificates.md)\n";
    return nullptr;
  }
  std::filesystem::create_directories(config.data_dir);
  return std::make_unique<EnrollmentRegistry>(config.data_dir / "enrollment.db");
}

// Writes data_dir/crl.pem now (the running receiver would within a second).
void write_crl(const ReceiverConfig& config, EnrollmentRegistry& registry) {
  if (config.enrollment.key.empty()) return;
  const IssuingCa ca(IssuingCa::Options{config.enrollment.cert, config.enrollment.key, config.enrollment.validity});
  const auto der = ca.crl(registry.revoked(), std::chrono::hours(24 * 7));
  if (!der) return;
  const std::string pem = crl_pem(*der);
  if (pem.empty()) return;
  base::AtomicFile file(config.data_dir / "crl.pem", 0644);
  file.write(base::ByteView(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
  file.commit();
  std::cout << "the CRL (" << config.data_dir.string() << "/crl.pem, GET " << est_path
            << "crl) lists the revoked serials from now on\n";
}

std::string state_of(const CertificateRecord& record, const std::vector<CertificateRecord>& all, std::int64_t now) {
  if (record.revoked_ms != 0) return "revoked";
  if (record.not_after_ms < now) return "expired";
  for (const CertificateRecord& other : all) {
    if (other.facility == record.facility && other.revoked_ms == 0 && other.issued_ms > record.issued_ms &&
        other.via != "revoked") {
      return "superseded";
    }
  }
  return "valid";
}

}  // namespace

std::optional<std::chrono::seconds> parse_validity(std::string_view text) {
  long long number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  const long long scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (ec != std::errc() || scale == 0 || number <= 0 || number > 3650LL * 86400 / scale) return std::nullopt;
  return std::chrono::seconds(number * scale);
}

int command_ticket(const ReceiverConfig& config, const std::string& facility, std::optional<std::chrono::seconds> valid,
                   const std::filesystem::path& output) {
  if (config.facility(facility) == nullptr) {
    std::cerr << "medgw-receiver ticket: facility " << facility << " is not listed in receiver.yaml (facilities:)\n";
    return 1;
  }
  const auto registry = open_registry(config, "ticket");
  if (!registry) return 1;
  const std::int64_t now = base::unix_ms_now();
  const std::int64_t until = now + std::chrono::duration_cast<std::chrono::milliseconds>(
                                       valid.value_or(config.enrollment.ticket_validity)).count();
  const std::string ticket = registry->add_ticket(facility, now, until);
  const std::string text = "# medgw enrollment ticket: facility " + facility + ", valid until " + utc_text(until) +
                           ", single use\n# on the gateway: medgw enroll --ticket-file THIS_FILE\nfacility: " +
                           facility + "\nticket: " + ticket + "\n";
  if (output.empty()) {
    std::cout << text;
  } else {
    base::create_private_file(output, base::ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    std::cerr << "medgw-receiver ticket: wrote " << output.string() << " (mode 0600) for facility " << facility
              << ", valid until " << utc_text(until) << ", single use\n";
  }
  return 0;
}

int command_revoke(const ReceiverConfig& config, const std::string& serial, const std::string& facility) {
  const auto registry = open_registry(config, "revoke");
  if (!registry) return 1;
  const std::int64_t now = base::unix_ms_now();
  if (!facility.empty()) {
    if (config.facility(facility) == nullptr) {
      std::cerr << "medgw-receiver revoke: facility " << facility << " is not listed in receiver.yaml\n";
      return 1;
    }
    const std::uint64_t count = registry->revoke_facility(facility, now);
    std::cout << "revoked " << count << " certificate(s) of facility " << facility << "\n";
  } else {
    const auto canonical = normalize_serial(serial);
    if (!canonical) {
      std::cerr << "medgw-receiver revoke: " << serial.substr(0, 80)
                << " is not a serial number (hex, as `medgw-receiver certs` or `openssl x509 -serial` print it)\n";
      return 2;
    }
    const bool now_revoked = registry->revoke_serial(*canonical, now);
    std::cout << (now_revoked ? "revoked " : "already revoked: ") << *canonical << "\n";
  }
  write_crl(config, *registry);
  return 0;
}

int command_certs(const ReceiverConfig& config, bool json) {
  const auto registry = open_registry(config, "certs");
  if (!registry) return 1;
  const auto all = registry->certificates();
  const std::int64_t now = base::unix_ms_now();
  if (json) {
    base::JsonWriter out;
    out.begin_object().key("certificates").begin_array();
    for (const CertificateRecord& record : all) {
      out.begin_object();
      out.field("facility", record.facility);
      out.field("serial", record.serial);
      out.field("not_after", record.not_after_ms == 0 ? std::string() : utc_text(record.not_after_ms));
      out.field("state", state_of(record, all, now));
      out.field("via", record.via);
      out.end_object();
    }
    out.end_array().end_object();
    std::cout << out.text() << "\n";
    return 0;
  }
  std::cout << "facility   serial                            not after             state       via\n";
  for (const CertificateRecord& record : all) {
    std::string serial = record.serial;
    serial.resize(std::max<std::size_t>(serial.size(), 32), ' ');
    std::string state = state_of(record, all, now);
    state.resize(std::max<std::size_t>(state.size(), 10), ' ');
    std::cout << (record.facility.empty() ? std::string("?        ") : record.facility) << "  " << serial << "  "
              << (record.not_after_ms == 0 ? std::string("-                   ") : utc_text(record.not_after_ms))
              << "  " << state << "  " << record.via << "\n";
  }
  if (all.empty()) std::cout << "(no certificate issued yet: medgw-receiver ticket --facility CODE)\n";
  return 0;
}

}  // namespace medgw::receiver
