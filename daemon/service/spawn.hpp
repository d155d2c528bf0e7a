#pragma once
// Starts a coroutine on the loop so that an exception escaping it is logged
// (event service.coroutine_failed, with what it was) and handed to
// `on_failure` instead of vanishing in asio::detached.
#include <base/log.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <functional>
#include <string>

namespace medgw::daemon {

void spawn(boost::asio::io_context& io, boost::asio::awaitable<void> work, log::Logger logger, std::string what,
           std::function<void(std::string error)> on_failure = {});

}  // namespace medgw::daemon
