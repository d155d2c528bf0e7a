#pragma once
// The delivery job: on the loop, the tus uploader drains the spool (its curl
// multi handle driven by the io_context), then waits for objects to be
// spooled or 30 s (60 s outside central.window); after a hard error it backs
// off (30 s doubling to 10 min). A reload ends the running drain at a
// resumable point and the next one uses the new central.* settings. It has
// its own connection to state.db.
#include <daemon/delivery/uploader.hpp>
#include <daemon/service/job.hpp>

#include <boost/asio/steady_timer.hpp>

#include <string>

namespace medgw::daemon {

class DeliveryJob final : public Job {
 public:
  // `on_delivered`: the central confirmed objects (the spool has room again).
  DeliveryJob(JobContext context, std::function<void()> on_delivered);

  [[nodiscard]] std::string_view name() const override { return "delivery"; }
  void start(Done done) override;
  void stop() override;
  void reload(const std::shared_ptr<const Snapshot>& snapshot) override;
  void health(std::vector<std::string>& reasons) const override;
  void metrics(PrometheusText& out) const override;
  void status(base::JsonWriter& doc) const override;

  // From any thread: objects were spooled (or withdrawals): drain now.
  void wake();
  [[nodiscard]] const UploadCounters& counters() const noexcept { return counters_; }

 private:
  // (A member coroutine: `done` is copied into its frame.)
  boost::asio::awaitable<void> run(Done done);
  boost::asio::awaitable<void> loop();

  JobContext context_;
  std::function<void()> on_delivered_;
  log::Logger logger_;
  boost::asio::steady_timer timer_;
  // Ends the drain in progress at a resumable point: on stop, and on reload.
  Control control_;
  bool stopping_ = false;
  bool poke_ = false;
  std::string problem_;  // the last drain stopped on a hard error
  bool outside_window_ = false;
  UploadCounters counters_;
};

}  // namespace medgw::daemon
