#pragma once
// The servers sources run inside `medgw run` (SourceListener: the storage
// SCP of a `dicom` source), started after the collection and stopped before
// it. A listener that cannot start (its port is taken) stops the service
// with the reason, so systemd shows it and retries. Its address and AE
// titles are bound at start: a reload that changes them says a restart is
// needed.
#include <daemon/service/job.hpp>

#include <memory>
#include <string>
#include <vector>

namespace medgw::daemon {

class ListenerJob final : public Job {
 public:
  explicit ListenerJob(JobContext context);
  ~ListenerJob() override;

  [[nodiscard]] std::string_view name() const override { return "listeners"; }
  void start(Done done) override;
  void stop() override;
  void reload(const std::shared_ptr<const Snapshot>& snapshot) override;
  void health(std::vector<std::string>& reasons) const override;
  void metrics(PrometheusText& out) const override;

 private:
  struct Running {
    std::string label;
    std::unique_ptr<SourceListener> listener;
  };

  JobContext context_;
  log::Logger logger_;
  std::vector<Running> running_;
  std::string signature_;  // the sources' settings at start (restart needed when they change)
  Done done_;
};

}  // namespace medgw::daemon
