// medgw-receiver: the reference central collector (tus over mutual TLS).
//
//   medgw-receiver -c receiver.yaml            serve (foreground; SIGTERM/SIGINT stop it)
//   medgw-receiver status -c receiver.yaml     facilities, objects, seq gaps, landing
#include <receiver/receiver_config.hpp>
#include <receiver/store.hpp>
#include <receiver/tus_server.hpp>

#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <boost/asio/signal_set.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr std::string_view usage = R"(medgw-receiver: the reference central collector for medgw gateways.

Usage:
  medgw-receiver -c receiver.yaml          serve tus 1.0 over mutual TLS (foreground)
  medgw-receiver status -c receiver.yaml   facilities, objects received, seq gaps, landing
  medgw-receiver receipt-key -c receiver.yaml
                                           print the receipt-signing public key (ed25519:...) for
                                           the gateways' central.receipt_key

It accepts uploads only from client certificates listed under facilities in
receiver.yaml, verifies each object's SHA-256 and its gateway's Ed25519
signature, stores it under data_dir/store/<facility>/<seq>-<object_id>.age,
issues signed receipts (GET <base_path>receipts/<object_id>) and, with
landing + identity set, decrypts and unpacks objects in seq order into
landing/<facility>/.
)";

int status(const medgw::receiver::ReceiverConfig& config) {
  medgw::receiver::Store store(config.data_dir / "receiver.db");
  const auto reports = store.report();
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
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_file;
  bool want_status = false;
  bool want_receipt_key = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::cout << usage;
      return 0;
    }
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      config_file = args[++i];
    } else if (args[i] == "status") {
      want_status = true;
    } else if (args[i] == "receipt-key") {
      want_receipt_key = true;
    } else {
      std::cerr << "medgw-receiver: unknown argument '" << args[i] << "'\n\n" << usage;
      return 2;
    }
  }
  if (config_file.empty()) {
    std::cerr << "medgw-receiver: -c receiver.yaml is required\n\n" << usage;
    return 2;
  }
  medgw::receiver::ReceiverConfig config;
  try {
    config = medgw::receiver::load_receiver_config(config_file);
  } catch (const medgw::receiver::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return 2;
  }
  try {
    if (want_status) return status(config);
    if (want_receipt_key) {
      std::filesystem::create_directories(config.data_dir);
      std::cout << medgw::crypto::SigningKey::load_or_create(config.receipt_key).public_key_text() << "\n";
      return 0;
    }
    auto core = std::make_shared<medgw::log::LogCore>(medgw::log::Level::info);
    core->add_sink(std::make_shared<medgw::log::StderrSink>());
    medgw::log::Logger logger(core, "receiver");
    // One thread runs the event loop (concurrency hint 1: no locking inside
    // Asio); several threads made every read completion a cross-thread
    // wake-up and halved the throughput. Landing has its own worker thread.
    boost::asio::io_context io(1);
    medgw::receiver::TusServer server(io, config, logger);
    const std::uint16_t port = server.start();
    server.resume_landing();
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) {
      server.stop();
      io.stop();
    });
    // "listening on PORT" on stdout: scripts and tests wait for it.
    std::cout << "medgw-receiver: listening on " << port << std::endl;
    io.run();
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "medgw-receiver: " << error.what() << "\n";
    return 1;
  }
}
