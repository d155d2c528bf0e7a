#include <daemon/delivery/transfer_pool.hpp>

#include <daemon/delivery/http_exchange.hpp>
#include <daemon/delivery/object_file.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace medgw::daemon {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Overloads for std::visit.
template <class... Handlers>
struct Visitor : Handlers... {
  using Handlers::operator()...;
};
template <class... Handlers>
Visitor(Handlers...) -> Visitor<Handlers...>;

}  // namespace

// One object of the drain: its machine, its file and its request.
struct TransferPool::Slot {
  Slot(const tus::Session& session, spool::QueuedObject object)
      : file(object.file, object.size, session.chunk), transfer(session, std::move(object)) {}
  ObjectFile file;  // declared first: outlives the exchange that reads from it
  tus::TusTransfer transfer;
  HttpExchange exchange;
  Clock::time_point wake{};  // not started before (backoff)
};

TransferPool::TransferPool(Context context) : context_(context) {}

TransferPool::~TransferPool() {
  for (const auto& [easy, slot] : running_) curl_multi_remove_handle(context_.multi, easy);
  // The deliveries of this drain flushed, their files removed (spool.hpp).
  try {
    context_.spool.sync_deliveries();
  } catch (const std::exception& error) {
    context_.logger.warn("upload.sync_failed",
                         "state.db could not be flushed after delivering; the delivered objects' files are removed "
                         "at a later flush or the next start",
                         {{"error", error.what()}});
  }
}

void TransferPool::refill() {
  const std::size_t parallel = context_.options.parallel;
  if (waiting_.size() + running_.size() >= parallel * 2) return;
  const auto now = Clock::now();
  if (!finished_since_refill_ && !idle() && now - last_refill_ < std::chrono::milliseconds(250)) return;
  last_refill_ = now;
  finished_since_refill_ = false;
  for (spool::QueuedObject& object : context_.spool.due(parallel * 4)) {
    if (!known_.insert(object.object_id).second) continue;
    waiting_.push_back(std::make_unique<Slot>(context_.session, std::move(object)));
  }
}

// Objects with an upload open on the central go first, and a new upload is
// created only while fewer than `parallel` are open. The central counts a
// facility's open uploads (max_open_uploads_per_facility, 64 by default) and
// answers 429 with Retry-After: 60 beyond it; slots waiting between their
// requests would otherwise open up to twice `parallel`.
void TransferPool::start_due() {
  const std::size_t parallel = context_.options.parallel;
  const auto now = Clock::now();
  std::size_t open = open_uploads();
  for (const bool creations : {false, true}) {
    for (auto it = waiting_.begin(); it != waiting_.end() && running_.size() < parallel;) {
      const bool creates = (*it)->transfer.state() == tus::TusTransfer::State::creating;
      if (creates != creations || (*it)->wake > now || (creates && open >= parallel)) {
        ++it;
        continue;
      }
      if (creates) ++open;
      std::unique_ptr<Slot> slot = std::move(*it);
      it = waiting_.erase(it);
      launch(*slot);
      // Keyed by the easy handle launch() made: curl reports completions by it.
      CURL* easy = slot->exchange.handle();
      running_.emplace(easy, std::move(slot));
    }
  }
}

std::size_t TransferPool::open_uploads() const {
  using State = tus::TusTransfer::State;
  const auto open = [](const Slot& slot) {
    return slot.transfer.state() == State::resyncing || slot.transfer.state() == State::sending;
  };
  std::size_t count = 0;
  for (const auto& slot : waiting_) count += open(*slot) ? 1 : 0;
  // A creation under way counts: it opens one.
  for (const auto& [easy, slot] : running_) {
    count += open(*slot) || slot->transfer.state() == State::creating ? 1 : 0;
  }
  return count;
}

void TransferPool::launch(Slot& slot) {
  const tus::Request request = slot.transfer.next([&slot](tus::ByteRange piece) { return slot.file.checksum(piece); });
  const int body_fd = request.method == tus::Method::patch ? slot.file.descriptor() : -1;
  // central.bandwidth split among the requests running, this one included.
  std::uint64_t send_limit = 0;
  if (context_.bandwidth > 0) {
    send_limit = std::max<std::uint64_t>(1024, context_.bandwidth / (running_.size() + 1));
  }
  CURL* easy = slot.exchange.prepare(request, context_.profile, body_fd, send_limit);
  curl_multi_add_handle(context_.multi, easy);
}

// What finished in one turn is recorded in one transaction (group commit):
// one flush of state.db for all of it, not one or two per request. The more
// requests finish while a flush runs, the more the next one carries. Nothing
// waits for these records but this loop: the next request of an object is
// started only after the commit.
void TransferPool::collect_finished() {
  std::optional<spool::Spool::Batch> batch;
  while (true) {
    int left = 0;
    CURLMsg* message = curl_multi_info_read(context_.multi, &left);
    if (message == nullptr) break;
    if (message->msg != CURLMSG_DONE) continue;
    if (!batch) batch.emplace(context_.spool);
    complete(message->easy_handle, message->data.result);
  }
  if (batch) batch->commit();
}

void TransferPool::complete(CURL* easy, CURLcode code) {
  auto node = running_.extract(easy);
  if (node.empty()) return;  // not one of ours
  std::unique_ptr<Slot> slot = std::move(node.mapped());
  if (slot->exchange.method() == tus::Method::patch) {
    const std::uint64_t sent = slot->exchange.bytes_sent();
    context_.report.bytes_sent += sent;
    if (context_.options.counters != nullptr) context_.options.counters->bytes_sent += sent;
  }
  curl_multi_remove_handle(context_.multi, easy);
  finished_since_refill_ = true;
  const tus::Decision decision = slot->transfer.on_response(slot->exchange.reply(code));
  apply(*slot, decision);
  if (decision.verdict == tus::Verdict::delivered || decision.verdict == tus::Verdict::rejected ||
      decision.verdict == tus::Verdict::unconfirmed) {
    return;  // done for this drain
  }
  waiting_.push_back(std::move(slot));
}

std::chrono::milliseconds TransferPool::next_wait() const {
  // (A waiting object that is due but has no free slot, or may not open an
  // upload yet, waits for a running one to finish: a socket event.)
  std::int64_t timeout_ms = 1000;
  const auto now = Clock::now();
  if (running_.size() < context_.options.parallel) {
    const bool may_create = open_uploads() < context_.options.parallel;
    for (const auto& slot : waiting_) {
      if (!may_create && slot->transfer.state() == tus::TusTransfer::State::creating) continue;
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(slot->wake - now).count();
      timeout_ms = std::clamp<std::int64_t>(wait, 0, timeout_ms);
    }
  }
  return std::chrono::milliseconds(timeout_ms);
}

void TransferPool::apply(Slot& slot, const tus::Decision& decision) {
  for (const tus::Action& action : decision.actions) apply_action(slot, action);
  if (decision.failure) count_failure(slot, decision);
  if (decision.attempt > 0) slot.wake = Clock::now() + decision.delay;
  if (decision.receipt) count_receipt(slot, *decision.receipt);
  if (decision.progress && context_.options.counters != nullptr) context_.options.counters->count_success();
  switch (decision.verdict) {
    case tus::Verdict::proceed:
    case tus::Verdict::retry:
      break;
    case tus::Verdict::rejected:
      ++context_.report.rejected;
      break;
    case tus::Verdict::unconfirmed:
      ++context_.report.unconfirmed;
      break;
    case tus::Verdict::delivered:
      count_delivery(slot);
      break;
    case tus::Verdict::hard_error:
      context_.report.hard_error = true;
      context_.report.error = decision.error;
      break;
  }
}

void TransferPool::apply_action(const Slot& slot, const tus::Action& action) {
  spool::Spool& spool = context_.spool;
  const std::string& id = slot.transfer.object().object_id;
  std::visit(Visitor{
                 [&](const tus::MarkUploading& mark) { spool.mark_uploading(id, mark.url); },
                 [&](const tus::RecordOffset& record) { spool.record_offset(id, record.offset); },
                 [&](const tus::ResetUpload&) { spool.reset_upload(id); },
                 [&](const tus::MarkDelivered& mark) { spool.mark_delivered(id, mark.receipt); },
                 [&](const tus::MarkRejected& mark) { spool.mark_rejected(id, mark.reason); },
                 [&](const tus::MarkUnconfirmed& mark) {
                   spool.mark_unconfirmed(id, mark.receipt, mark.why, std::chrono::system_clock::now() + mark.recheck);
                 },
                 [&](const tus::RecordFailure& record) {
                   spool.record_failure(id, record.error, std::chrono::system_clock::now());
                 },
             },
             action);
}

void TransferPool::count_failure(const Slot& slot, const tus::Decision& decision) {
  const tus::RequestFailure& failure = *decision.failure;
  if (context_.options.counters != nullptr) context_.options.counters->count_error(failure.error_class);
  if (failure.error_class == UploadErrorClass::tls) {
    context_.logger.error("upload.tls_refused", "TLS with the central failed", {{"error", failure.why}});
  }
  if (decision.attempt > 0) {
    ++context_.report.retries;
    context_.logger.warn("upload.retry", "a request to the central failed; retrying",
                         {{"seq", slot.transfer.object().seq},
                          {"error", failure.why},
                          {"attempt", static_cast<std::int64_t>(decision.attempt)}});
  }
}

void TransferPool::count_receipt(const Slot& slot, const tus::ReceiptNote& note) {
  UploadReport& report = context_.report;
  UploadCounters* counters = context_.options.counters;
  const std::uint64_t seq = slot.transfer.object().seq;
  switch (note.outcome) {
    case tus::ReceiptOutcome::verified:
      ++report.receipts_verified;
      if (counters != nullptr) ++counters->receipts_verified;
      break;
    case tus::ReceiptOutcome::unverified:
      ++report.receipts_unverified;
      break;
    case tus::ReceiptOutcome::missing:
      ++report.receipts_missing;
      break;
    case tus::ReceiptOutcome::invalid:
      ++report.receipts_invalid;
      if (counters != nullptr) counters->count_error(UploadErrorClass::receipt_invalid);
      if (note.error_code == receipt_not_json) {
        context_.logger.error("upload.receipt_invalid", "ALARM: the central's receipt is not valid JSON", {{"seq", seq}});
      } else {
        context_.logger.error("upload.receipt_invalid",
                              "ALARM: the central's receipt for an uploaded object does not check out (wrong "
                              "object, or a bad signature); the object stays in the spool as unconfirmed; tell the "
                              "central's operators",
                              {{"seq", seq}});
      }
      break;
    case tus::ReceiptOutcome::not_stored:
      context_.logger.warn("upload.no_receipt", "the central has no receipt for a complete upload; sending it again",
                           {{"seq", seq}});
      break;
  }
}

void TransferPool::count_delivery(const Slot& slot) {
  const std::uint64_t size = slot.transfer.object().size;
  ++context_.report.delivered;
  context_.report.delivered_bytes += size;
  if (UploadCounters* counters = context_.options.counters; counters != nullptr) {
    ++counters->delivered;
    counters->delivered_bytes += size;
    counters->last_delivered_ms = unix_ms();
  }
}

}  // namespace medgw::daemon
