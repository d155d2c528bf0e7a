#include <daemon/service/collector_job.hpp>

#include <base/time_format.hpp>

#include <daemon/runtime/collection_run.hpp>

#include <boost/asio/post.hpp>

#include <optional>

namespace medgw::daemon {
namespace {

using namespace std::chrono_literals;

constexpr auto paused_retry = 15s;  // a pass the spool refused
constexpr auto failed_retry = 60s;  // a source that could not be read

// Thrown from a pass's progress callback when the service stops: the pass
// ends at a point where everything committed so far is consistent
// (invariant 1) and the rest is found again by the next pass.
class PassInterrupted : public std::runtime_error {
 public:
  PassInterrupted() : std::runtime_error("the service is stopping") {}
};

}  // namespace

CollectorJob::CollectorJob(JobContext context, std::function<void()> on_spooled)
    : context_(std::move(context)),
      on_spooled_(std::move(on_spooled)),
      logger_(context_.runtime.logger.named("service")) {
  for (const SourcePass& pass : context_.snapshot()->plan.passes()) passes_[pass.label].due = SteadyClock::now();
}

CollectorJob::~CollectorJob() {
  stop();
  if (worker_.joinable()) worker_.join();
}

void CollectorJob::start(Done done) {
  start_worker(worker_, context_, logger_, "collector", [this] { loop(); }, std::move(done));
}

void CollectorJob::stop() {
  stopping_ = true;
  const std::lock_guard lock(mutex_);
  wake_.notify_all();
}

void CollectorJob::loop() {
  std::shared_ptr<const Snapshot> used;
  std::optional<Collector> collection;  // the policy in force and whether withdrawals are due
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto next = passes_.end();
    for (auto it = passes_.begin(); it != passes_.end(); ++it) {
      if (next == passes_.end() || it->second.due < next->second.due) next = it;
    }
    if (next == passes_.end()) {
      wake_.wait(lock);
      continue;
    }
    if (const SteadyClock::time_point due = next->second.due; due > SteadyClock::now()) {
      // (A copy: a reload replaces `passes_` while this waits.)
      wake_.wait_until(lock, due);
      continue;  // woken early (hint, reload, stop) or due now: choose again
    }
    const std::string label = next->first;
    next->second.running = true;
    lock.unlock();
    const std::shared_ptr<const Snapshot> current = context_.snapshot();
    if (current != used) {
      collection.emplace(context_.runtime, current->config.policy, current->plan.patient_lookup());
      context_.runtime.spool->set_limits(spool_limits(current->config));
      context_.runtime.spool->set_recipients(recipients_of(current->config));
      used = current;
    }
    const auto retry_in = collect_one(current->plan, label, *collection);
    lock.lock();
    if (auto found = passes_.find(label); found != passes_.end()) {
      found->second.running = false;
      found->second.due = SteadyClock::now() + retry_in;
    }
  }
}

template <class Change>
void CollectorJob::update(const std::string& label, Change&& change) {
  const std::lock_guard lock(mutex_);
  if (auto found = passes_.find(label); found != passes_.end()) change(found->second);
}

// One pass over `label`; returns when it is due again.
std::chrono::milliseconds CollectorJob::collect_one(const SourcePlan& plan, const std::string& label,
                                                    Collector& collection) {
  const SourcePass* source = plan.find(label);
  if (source == nullptr) return std::chrono::hours(24);  // removed by a reload meanwhile
  const std::chrono::milliseconds interval = source->scan_interval;

  const base::Status usable = collection.refresh_policy(std::chrono::system_clock::now());
  {
    const std::lock_guard lock(mutex_);
    policy_problem_ = usable ? std::string() : usable.error().message;
  }
  if (!usable) {
    logger_.error("policy.unusable", "the opt-out list or the notice register cannot be used",
                  {{"problem", usable.error().message}});
  }
  if (!collection.policy()) return failed_retry;  // never collect without a usable list

  if (collection.withdrawals_due()) {
    const collectors::RegisterUpdate withdrawals = collection.withdraw_newly_listed(plan);
    if (withdrawals.paused) {
      update(label, [&](PassState& s) { s.pause_reason = "withdrawals wait for room in the spool: " + withdrawals.pause_reason; });
      return paused_retry;
    }
    if (withdrawals.withdrawn > 0 && on_spooled_) on_spooled_();
  }

  const auto started = SteadyClock::now();
  try {
    PassOptions options;
    options.progress = [this](const collectors::PassSummary&) {
      if (stopping_) throw PassInterrupted();
    };
    const collectors::PassSummary summary = collection.pass(*source, options);
    record(label, summary, started);
    if (summary.objects > 0 && on_spooled_) on_spooled_();
    if (summary.paused) return paused_retry;
    // Files still being written: look again once they have settled.
    if (summary.waiting > 0) return std::min<std::chrono::milliseconds>(interval, source->settle + 1s);
    return interval;
  } catch (const PassInterrupted&) {
    logger_.info("collect.interrupted", "collection pass interrupted; the next start continues it", {{"source", label}});
    return interval;
  } catch (const std::exception& error) {
    logger_.error("collect.failed", "collection pass failed; retrying", {{"source", label}, {"error", error.what()}});
    update(label, [&](PassState& s) {
      s.problem = error.what();
      ++s.passes_failed;
    });
    return std::min<std::chrono::milliseconds>(interval, failed_retry);
  }
}

void CollectorJob::record(const std::string& label, const collectors::PassSummary& summary,
                          SteadyClock::time_point started) {
  update(label, [&](PassState& s) {
    s.problem.clear();
    s.pause_reason = summary.paused ? summary.pause_reason : std::string();
    s.deletes_withheld = summary.deletes_withheld;
    s.files_last_pass = summary.files_seen;
    s.last_duration_seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    (summary.paused ? s.passes_paused : s.passes_finished) += 1;
    if (!summary.paused) s.last_success_ms = base::unix_ms_now();
    s.added += summary.added;
    s.modified += summary.modified;
    s.renamed += summary.renamed;
    s.deleted += summary.deleted;
    s.unreadable += summary.unreadable;
    s.excluded_optout += summary.excluded_optout;
    s.excluded_since += summary.excluded_since;
    s.held += summary.held;
    s.held_notice += summary.held_notice;
    s.rows_held_notice += summary.rows_held_notice;
    s.objects += summary.objects;
    s.object_bytes += summary.object_bytes;
    for (std::size_t i = 0; i < s.anomalies.size(); ++i) s.anomalies[i] += summary.anomalies[i];
  });
}

void CollectorJob::hint(const std::string& label) {
  const std::shared_ptr<const Snapshot> current = context_.snapshot();
  const SourcePass* pass = current->plan.find(label);
  const auto due = SteadyClock::now() + (pass != nullptr ? pass->settle : std::chrono::milliseconds(0)) + 1s;
  const std::lock_guard lock(mutex_);
  const auto found = passes_.find(label);
  if (found == passes_.end() || due >= found->second.due) return;
  found->second.due = due;
  wake_.notify_one();
}

void CollectorJob::room_freed() {
  const std::lock_guard lock(mutex_);
  for (auto& [label, state] : passes_) {
    if (!state.pause_reason.empty()) state.due = std::min(state.due, SteadyClock::now());
  }
  wake_.notify_one();
}

void CollectorJob::reload(const std::shared_ptr<const Snapshot>& snapshot) {
  const std::lock_guard lock(mutex_);
  std::map<std::string, PassState> kept;
  for (const SourcePass& pass : snapshot->plan.passes()) {
    auto found = passes_.find(pass.label);
    if (found != passes_.end()) {
      kept[pass.label] = std::move(found->second);
      // A changed scan_interval applies from now on.
      kept[pass.label].due = std::min(kept[pass.label].due, SteadyClock::now() + pass.scan_interval);
    } else {
      kept[pass.label].due = SteadyClock::now();
    }
  }
  passes_ = std::move(kept);
  wake_.notify_one();
}

}  // namespace medgw::daemon
