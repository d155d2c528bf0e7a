#include <collectors/spool_sink.hpp>

#include <collectors/collection_pass.hpp>

namespace medgw::collectors {

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
  arena_.reserve(limits_.object_target + limits_.in_memory_limit + (64 << 10));
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
  if (large || content_bytes_ + size > limits_.object_target) flush();
}

void SpoolSink::add(SinkItem item, std::optional<std::string_view> content) {
  const bool large = !content && item.entry.has_content() && !item.entry.file.empty();
  if (content) {
    // The arena never grows (entries point into it). make_room() keeps a
    // batch within it; flushing here instead would commit the feed's
    // journal for this entry with an object that does not hold it.
    if (arena_.size() + content->size() > arena_.capacity()) {
      throw std::logic_error("SpoolSink::add: " + std::to_string(content->size()) +
                             " bytes added without make_room() first");
    }
    const std::size_t start = arena_.size();
    arena_.append(*content);
    item.entry.data = std::string_view(arena_).substr(start);
  }
  if (item.entry.has_content()) {
    content_bytes_ += item.entry.size;
    note_anomalies(item);
  }
  entries_.push_back(std::move(item.entry));
  anomalies_.push_back(item.anomalies);
  if (large || entries_.size() >= limits_.object_max_entries) flush();
}

void SpoolSink::add_to_object(SinkItem item) {
  if (item.entry.has_content()) {
    content_bytes_ += item.entry.size;
    note_anomalies(item);
  }
  entries_.push_back(std::move(item.entry));
  anomalies_.push_back(item.anomalies);
  if (entries_.size() >= limits_.object_max_entries) flush();
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
  if (entries_.empty() && journal_.empty()) return;
  if (entries_.empty()) {
    // Only bookkeeping: nothing to send, the feed records its state.
    base::Database& db = state_.db();
    base::WriteTransaction transaction(db);
    journal_.commit(db, 0);
    transaction.commit();
    clear();
    return;
  }
  const spool::BuildOutcome outcome = spool_.build(entries_, [&](base::Database& db, const spool::CommittedObject& object) {
    journal_.commit(db, static_cast<std::int64_t>(object.seq));
  });
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
      // changed or went away since it was hashed. The next pass looks again.
      ++summary_.waiting;
      journal_.discard();
      clear();
      return;
    case spool::BuildStatus::failed:
      throw CollectionError("source " + source_ + ": building an object failed: " + outcome.message);
  }
  ++summary_.objects;
  summary_.object_bytes += outcome.object->size;
  summary_.content_bytes += outcome.object->content_bytes;
  count_committed();
  clear();
  if (progress_) progress_(summary_);
}

void SpoolSink::count_committed() {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    switch (entries_[i].change) {
      case spool::Change::add: ++summary_.added; break;
      case spool::Change::modify: ++summary_.modified; break;
      case spool::Change::rename: ++summary_.renamed; break;
      case spool::Change::remove: ++summary_.deleted; break;
      case spool::Change::withdraw: break;
    }
    if (!entries_[i].has_content()) continue;
    for (std::size_t kind = 0; kind < anomaly_count; ++kind) {
      if ((anomalies_[i] & (AnomalySet{1} << kind)) != 0) ++summary_.anomalies[kind];
    }
  }
}

void SpoolSink::clear() {
  entries_.clear();
  anomalies_.clear();
  arena_.clear();
  content_bytes_ = 0;
}

}  // namespace medgw::collectors
