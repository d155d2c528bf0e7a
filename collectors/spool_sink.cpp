#include <collectors/spool_sink.hpp>

#include <collectors/collection_pass.hpp>

namespace medgw::collectors {
namespace {

std::size_t arena_capacity(const SinkLimits& limits) {
  return static_cast<std::size_t>(limits.object_target + limits.in_memory_limit + (64 << 10));
}

}  // namespace

SpoolSink::SpoolSink(spool::StateDb& state, spool::Spool& spool, std::string source, SinkLimits limits,
                     std::shared_ptr<const PatientPolicy> policy, SinkJournal& journal, PassSummary& summary,
                     const crypto::PatientTagger& tagger, log::Logger logger, Progress progress)
    : state_(state),
      spool_(spool),
      source_(std::move(source)),
      limits_(limits),
      policy_(policy ? std::move(policy) : std::make_shared<const PatientPolicy>()),
      journal_(journal),
      summary_(summary),
      tagger_(tagger),
      logger_(std::move(logger)),
      progress_(std::move(progress)) {
  batch_.arena.reserve(arena_capacity(limits_));
}

SpoolSink::~SpoolSink() {
  if (!in_flight_) return;
  // The feed gave up (an error, a pause): the object is not recorded.
  if (in_flight_->written.valid()) in_flight_->written.wait();
  spool::Spool::drop(in_flight_->plan);
}

bool SpoolSink::refuse(Exclusion exclusion) {
  switch (exclusion) {
    case Exclusion::none: return false;
    case Exclusion::opted_out: ++summary_.excluded_optout; return true;
    case Exclusion::before_since: ++summary_.excluded_since; return true;
    case Exclusion::notice_pending: ++summary_.held_notice; return true;
  }
  return false;
}

bool SpoolSink::refuse_content_patient(std::string_view patient_id) {
  if (patient_id.empty() || !policy_->opted_out(patient_id)) return false;
  ++summary_.excluded_optout;
  return true;
}

void SpoolSink::make_room(std::uint64_t size) {
  const bool large = size > limits_.in_memory_limit;
  if (large || batch_.content_bytes + size > limits_.object_target) send(true);
}

void SpoolSink::add(SinkItem item, std::optional<std::string_view> content) {
  const bool large = !content && item.entry.has_content() && !item.entry.file.empty();
  if (content) {
    // The arena never grows (entries point into it). make_room() keeps a
    // batch within it; flushing here instead would commit the feed's
    // journal for this entry with an object that does not hold it.
    if (batch_.arena.size() + content->size() > batch_.arena.capacity()) {
      throw std::logic_error("SpoolSink::add: " + std::to_string(content->size()) +
                             " bytes added without make_room() first");
    }
    const std::size_t start = batch_.arena.size();
    batch_.arena.append(*content);
    item.entry.data = std::string_view(batch_.arena).substr(start);
  }
  if (item.entry.has_content()) {
    batch_.content_bytes += item.entry.size;
    note_anomalies(item);
  }
  batch_.entries.push_back(std::move(item.entry));
  batch_.anomalies.push_back(item.anomalies);
  if (large || batch_.entries.size() >= limits_.object_max_entries) send(true);
}

void SpoolSink::add_to_object(SinkItem item) {
  if (item.entry.has_content()) {
    batch_.content_bytes += item.entry.size;
    note_anomalies(item);
  }
  batch_.entries.push_back(std::move(item.entry));
  batch_.anomalies.push_back(item.anomalies);
  if (batch_.entries.size() >= limits_.object_max_entries) send(true);
}

void SpoolSink::note_anomalies(const SinkItem& item) {
  const AnomalySet problems = item.anomalies & ~bit(Anomaly::condition_flag_0);
  if (problems == 0) return;
  std::string kinds;
  for (std::string_view name : anomaly_names(problems)) kinds.append(kinds.empty() ? "" : ",").append(name);
  logger_.info("collect.anomaly", "a collected file has problems; it is sent flagged",
               {{"source", source_},
                {"patient", item.patient_id.empty() ? std::string("unknown") : tagger_.tag(item.patient_id)},
                {"kinds", kinds},
                {"change", spool::change_name(item.entry.change)}});
}

void SpoolSink::flush() {
  send(false);
  finish_in_flight();
}

void SpoolSink::send(bool overlap) {
  if (batch_.entries.empty() && journal_.empty()) return;
  if (batch_.entries.empty()) {
    // Only bookkeeping: nothing to send, the feed records its state (after
    // the object before it: commits stay in the order of the feed).
    finish_in_flight();
    base::Database& db = state_.db();
    base::WriteTransaction transaction(db);
    journal_.commit(db, 0);
    transaction.commit();
    batch_.clear();
    return;
  }
  std::unique_ptr<SinkJournal::Records> records = overlap ? journal_.take() : nullptr;
  try {
    finish_in_flight();
  } catch (const SinkPaused&) {
    batch_.clear();  // with its records: the next pass finds the same changes
    throw;
  }
  if (!records) {
    const spool::BuildOutcome outcome = spool_.build(batch_.entries, [&](base::Database& db, const spool::CommittedObject& object) {
      journal_.commit(db, static_cast<std::int64_t>(object.seq));
    });
    if (outcome.status == spool::BuildStatus::source_changed || outcome.status == spool::BuildStatus::source_unreadable) {
      journal_.discard();
    }
    settle(batch_, outcome);
    batch_.clear();
    return;
  }
  auto planned = spool_.plan(batch_.entries);
  if (auto* refused = std::get_if<spool::BuildOutcome>(&planned)) {
    try {
      settle(batch_, *refused);
    } catch (...) {
      batch_.clear();
      throw;
    }
    batch_.clear();
    return;
  }
  auto flight = std::make_unique<InFlight>();
  std::swap(flight->batch, batch_);  // the arena's buffer moves with it: entries still point into it
  std::swap(batch_, spare_);
  if (batch_.arena.capacity() < arena_capacity(limits_)) batch_.arena.reserve(arena_capacity(limits_));
  flight->records = std::move(records);
  flight->plan = std::move(std::get<spool::Spool::Plan>(planned));
  flight->written = std::async(std::launch::async, [object = flight.get()] {
    return spool::Spool::write(object->plan, object->batch.entries);
  });
  in_flight_ = std::move(flight);
}

void SpoolSink::finish_in_flight() {
  if (!in_flight_) return;
  std::unique_ptr<InFlight> done = std::move(in_flight_);
  spool::Spool::Written written;
  try {
    written = done->written.get();
  } catch (...) {
    spool::Spool::drop(done->plan);
    throw;
  }
  const spool::BuildOutcome outcome =
      spool_.record(done->plan, std::move(written), [&](base::Database& db, const spool::CommittedObject& object) {
        done->records->commit(db, static_cast<std::int64_t>(object.seq));
      });
  // Recycled as the spare arena whatever happened (a failed object's records go with `done`).
  Batch& batch = done->batch;
  auto recycle = [&] {
    batch.clear();
    std::swap(spare_, batch);
  };
  try {
    settle(batch, outcome);
  } catch (...) {
    recycle();
    throw;
  }
  recycle();
}

void SpoolSink::settle(const Batch& batch, const spool::BuildOutcome& outcome) {
  switch (outcome.status) {
    case spool::BuildStatus::committed:
      break;
    case spool::BuildStatus::spool_full:
    case spool::BuildStatus::disk_low:
    case spool::BuildStatus::disk_full:
      summary_.paused = true;
      summary_.pause_reason = std::string(spool::build_status_name(outcome.status)) + ": " + outcome.message;
      throw SinkPaused(summary_.pause_reason);
    case spool::BuildStatus::source_changed:
    case spool::BuildStatus::source_unreadable:
      // Only streamed (large) files are read during the build: that file
      // changed or went away since it was hashed. The next pass looks again
      // (the batch's records were not committed).
      ++summary_.waiting;
      return;
    case spool::BuildStatus::failed:
      throw CollectionError("source " + source_ + ": building an object failed: " + outcome.message);
  }
  ++summary_.objects;
  summary_.object_bytes += outcome.object->size;
  summary_.content_bytes += outcome.object->content_bytes;
  count_committed(batch);
  if (progress_) progress_(summary_);
}

void SpoolSink::count_committed(const Batch& batch) {
  for (std::size_t i = 0; i < batch.entries.size(); ++i) {
    switch (batch.entries[i].change) {
      case spool::Change::add: ++summary_.added; break;
      case spool::Change::modify: ++summary_.modified; break;
      case spool::Change::rename: ++summary_.renamed; break;
      case spool::Change::remove: ++summary_.deleted; break;
      case spool::Change::withdraw: break;
    }
    if (!batch.entries[i].has_content()) continue;
    for (std::size_t kind = 0; kind < anomaly_count; ++kind) {
      if ((batch.anomalies[i] & (AnomalySet{1} << kind)) != 0) ++summary_.anomalies[kind];
    }
  }
}

void SpoolSink::Batch::clear() {
  entries.clear();
  anomalies.clear();
  arena.clear();
  content_bytes = 0;
}

}  // namespace medgw::collectors
