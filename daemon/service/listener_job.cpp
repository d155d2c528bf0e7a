#include <daemon/service/listener_job.hpp>

#include <daemon/runtime/runtime.hpp>

#include <algorithm>
#include <map>

namespace medgw::daemon {
namespace {

// What a listener was built from: the settings of the sources that have one.
std::string listener_signature(const Snapshot& snapshot) {
  std::string out;
  for (std::size_t i = 0; i < snapshot.config.sources.size(); ++i) {
    const std::vector<const SourcePass*> passes = snapshot.plan.of_source(i);
    if (std::none_of(passes.begin(), passes.end(), [](const SourcePass* pass) { return bool(pass->make_listener); })) continue;
    const SourceConfig& source = snapshot.config.sources[i];
    out += source.name + "\n";
    for (const auto& [key, value] : source.settings) {
      out += key + "=" + value.text;
      for (const std::string& item : value.list) out += "," + item;
      out += "\n";
    }
  }
  return out;
}

}  // namespace

ListenerJob::ListenerJob(JobContext context) : context_(std::move(context)), logger_(context_.runtime.logger.named("listeners")) {}

ListenerJob::~ListenerJob() {
  for (Running& running : running_) running.listener->stop();
}

void ListenerJob::start(Done done) {
  done_ = std::move(done);
  const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
  signature_ = listener_signature(*snapshot);
  const ListenerContext listener_context{snapshot->config.state_dir, spool_limits(snapshot->config),
                                         context_.runtime.logger.named("dicom")};
  try {
    for (const SourcePass& pass : snapshot->plan.passes()) {
      if (!pass.make_listener) continue;
      Running running{pass.label, pass.make_listener(listener_context)};
      running.listener->start();
      running_.push_back(std::move(running));
    }
  } catch (const std::exception& e) {
    logger_.error("listener.start_failed", e.what());
    for (Running& running : running_) running.listener->stop();
    running_.clear();
    Done finished = std::move(done_);
    finished(e.what());
  }
}

void ListenerJob::stop() {
  for (Running& running : running_) running.listener->stop();
  running_.clear();
  if (done_) {
    Done finished = std::move(done_);
    done_ = nullptr;
    finished({});
  }
}

void ListenerJob::reload(const std::shared_ptr<const Snapshot>& snapshot) {
  if (listener_signature(*snapshot) != signature_) {
    logger_.warn("config.needs_restart", "a changed setting takes effect only after a restart",
                 {{"key", "sources[] of a listening source (listen, ae_title, allow...)"}});
  }
}

void ListenerJob::health(std::vector<std::string>& reasons) const {
  for (const Running& running : running_) running.listener->health(reasons);
}

void ListenerJob::metrics(PrometheusText& out) const {
  // One family per counter, one sample per source.
  std::map<std::string, std::pair<std::string, std::vector<std::pair<std::string, std::uint64_t>>>> families;
  for (const Running& running : running_) {
    for (const SourceListener::Counter& counter : running.listener->counters()) {
      auto& family = families[counter.name];
      family.first = counter.help;
      family.second.emplace_back(running.label, counter.value);
    }
  }
  for (const auto& [name, family] : families) {
    out.family("medgw_" + name, "counter", family.first);
    for (const auto& [label, value] : family.second) out.sample(value, {{"source", label}});
  }
}

}  // namespace medgw::daemon
