#pragma once
// The reference central collector's tus 1.0 server (core, creation,
// termination, checksum with sha256, expiration) over HTTPS with mutual TLS,
// on Boost.Beast and one io_context. The client certificate's subject CN (or
// a DNS SAN) names the facility (receiver.yaml); an upload whose `facility`
// metadata differs is refused, and only objects signed by one of the
// facility's gateway keys are accepted at all.
//
// Split by aspect (tus_server_impl.hpp): the accept loop and connection
// caps, a session, PATCH bodies; the protocol's decisions are TusProtocol's
// (no sockets), the last byte is the Completer's (one atomic step per
// object), landing is the LandingQueue's (quarantine, retry).
#include <receiver/receiver_config.hpp>

#include <base/log.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>

namespace medgw::receiver {

class TusServer {
 public:
  TusServer(boost::asio::io_context& io, ReceiverConfig config, log::Logger logger);
  ~TusServer();

  // Starts accepting; returns the port actually bound (listen port 0 = any).
  std::uint16_t start();
  // Stops accepting and closes every connection; the io_context's run()
  // returns once the sessions and completions in progress are done.
  void stop();
  // Starts landing: what is stored but not landed yet (after a restart),
  // then every object as it arrives, and the operator's retries.
  void resume_landing();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medgw::receiver
