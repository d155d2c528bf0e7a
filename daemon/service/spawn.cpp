#include <daemon/service/spawn.hpp>

#include <boost/asio/co_spawn.hpp>

#include <exception>

namespace medgw::daemon {

void spawn(boost::asio::io_context& io, boost::asio::awaitable<void> work, log::Logger logger, std::string what,
           std::function<void(std::string error)> on_failure) {
  boost::asio::co_spawn(io, std::move(work),
                        [logger = std::move(logger), what = std::move(what),
                         on_failure = std::move(on_failure)](const std::exception_ptr& failure) {
                          if (!failure) return;
                          std::string error = "unknown error";
                          try {
                            std::rethrow_exception(failure);
                          } catch (const std::exception& caught) {
                            error = caught.what();
                          } catch (...) {
                          }
                          logger.error("service.coroutine_failed", "a task of the service failed",
                                       {{"task", what}, {"error", error}});
                          if (on_failure) on_failure(std::move(error));
                        });
}

}  // namespace medgw::daemon
