#pragma once
// The reference central collector's tus 1.0 server (core, creation,
// termination, checksum with sha256, expiration) over HTTPS with mutual TLS,
// on Boost.Beast and one io_context. The client certificate's subject CN (or
// a DNS SAN) names the facility (receiver.yaml); an upload whose `facility`
// metadata differs is refused.
//
// Partial bodies are kept when a connection drops (the offset moves with
// what reached the disk), unless the PATCH carried Upload-Checksum, which can
// only be checked on a whole body. On the last byte the upload is verified
// (SHA-256 and the gateway's Ed25519 signature over medgw-object/1), stored as
// <data_dir>/store/<facility>/<seq>-<object_id>.age, recorded (a repeated
// object_id is acknowledged and dropped), a signed receipt is made, and the
// object is queued for landing.
#include <receiver/landing.hpp>
#include <receiver/receiver_config.hpp>
#include <receiver/store.hpp>

#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <optional>

namespace medgw::receiver {

class TusServer {
 public:
  TusServer(boost::asio::io_context& io, ReceiverConfig config, log::Logger logger);
  ~TusServer();

  // Starts accepting; returns the port actually bound (listen port 0 = any).
  std::uint16_t start();
  void stop();
  // Lands what is stored but not landed yet (after a restart).
  void resume_landing();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medgw::receiver
