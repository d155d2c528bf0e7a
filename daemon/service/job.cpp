#include <daemon/service/job.hpp>

#include <boost/asio/post.hpp>

namespace medgw::daemon {

void start_worker(std::thread& worker, JobContext& context, const log::Logger& logger, std::string_view name,
                  std::function<void()> body, Job::Done done) {
  worker = std::thread([&worker, &context, logger, worker_name = std::string(name), body = std::move(body),
                        done = std::move(done)] {
    std::string failure;
    try {
      body();
    } catch (const std::exception& error) {
      failure = error.what();
      logger.error("service.worker_failed", "a worker stopped on an error; the service stops so that systemd "
                   "restarts it", {{"worker", worker_name}, {"error", failure}});
    }
    boost::asio::post(context.io, [&worker, done, failure] {
      if (worker.joinable()) worker.join();
      done(failure);
    });
  });
}

}  // namespace medgw::daemon
