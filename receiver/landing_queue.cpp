#include <receiver/landing_queue.hpp>

#include <receiver/identifiers.hpp>

#include <base/base64.hpp>
#include <base/json.hpp>
#include <base/time_format.hpp>

#include <boost/asio/post.hpp>

#include <pthread.h>

namespace medgw::receiver {
namespace {

constexpr auto poll_interval = std::chrono::seconds(5);
constexpr int objects_per_turn = 8;  // then the other facilities get a turn

}  // namespace

LandingQueue::LandingQueue(const ReceiverConfig& config, Store& store, crypto::age::Identities identities,
                           crypto::PatientTagger tagger, const crypto::SigningKey& receipt_key, log::Logger logger)
    : config_(config),
      store_(store),
      identities_(std::move(identities)),
      tagger_(std::move(tagger)),
      receipt_key_(receipt_key),
      logger_(std::move(logger)),
      poll_timer_(pool_.get_executor()) {
  // Named, so `top -H` (and the load test) tell landing from serving.
  boost::asio::post(pool_, [] { pthread_setname_np(pthread_self(), "medgw-landing"); });
}

LandingQueue::~LandingQueue() {
  stop();
  pool_.join();
}

void LandingQueue::start() {
  boost::asio::post(pool_, [this] { poll(); });
}

void LandingQueue::stop() {
  boost::asio::post(pool_, [this] {
    stopped_ = true;
    poll_timer_.cancel();
  });
}

void LandingQueue::schedule(const std::string& facility) {
  boost::asio::post(pool_, [this, facility] { land_ready(facility); });
}

void LandingQueue::poll() {
  if (stopped_) return;
  try {
    for (const FacilityEntry& facility : config_.facilities) land_ready(facility.code);
  } catch (const std::exception&) {
    logger_.error("receiver.landing_poll_failed", "receiver.db could not be read for landing; trying again", {});
  }
  poll_timer_.expires_after(poll_interval);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

void LandingQueue::land_ready(const std::string& facility) {
  if (stopped_) return;
  if (const auto pause = paused_.find(facility);
      pause != paused_.end() && std::chrono::steady_clock::now() < pause->second.until) {
    return;
  }
  for (int turn = 0; turn < objects_per_turn; ++turn) {
    std::optional<StoredObject> object;
    try {
      object = store_.next_to_land(facility);
    } catch (const std::exception&) {
      logger_.error("receiver.landing_poll_failed", "receiver.db could not be read for landing; trying again",
                    {{"facility", facility}});
      return;
    }
    if (!object) return;
    try {
      if (!land_one(*object)) return;
    } catch (const std::exception&) {
      // receiver.db could not record the result: the object lands again later.
      logger_.error("receiver.landing_record_failed", "receiver.db could not record a landing; trying again",
                    {{"facility", facility}, {"seq", object->seq}});
      return;
    }
  }
  schedule(facility);  // more to land: after the other facilities' turns
}

bool LandingQueue::land_one(const StoredObject& object) {
  LandingRequest request;
  const auto object_file = path_under(config_.data_dir / "store", object.file);
  const auto facility_root = path_under(config_.landing, object.facility);
  request.object_file = object_file ? *object_file : std::filesystem::path();
  request.facility_root = facility_root ? *facility_root : std::filesystem::path();
  request.facility = object.facility;
  request.object_id = object.object_id;
  request.seq = object.seq;
  request.limits = {config_.landing_max_ratio, config_.landing_max_member_size, config_.min_free};
  request.tagger = &tagger_;
  auto landed = (object_file && facility_root)
                    ? land(request, identities_)
                    : base::Result<LandingSummary, LandingFailure>(base::fail(
                          LandingFailure{"unsafe_path", "a stored object's name leaves its tree", false, -1, {}}));
  const std::string& facility = object.facility;
  if (!landed && landed.error().transient) {
    Pause& pause = paused_[facility];
    pause.backoff = std::min<std::chrono::seconds>(std::chrono::minutes(5), std::max<std::chrono::seconds>(
                                                                                 std::chrono::seconds(5), pause.backoff * 2));
    pause.until = std::chrono::steady_clock::now() + pause.backoff;
    if (pause.reason != landed.error().code) {
      pause.reason = landed.error().code;
      logger_.error("receiver.landing_paused",
                    "ALARM: landing of this facility waits on the receiver's environment; the same object is tried "
                    "again (fix the cause: disk space, permissions)",
                    {{"facility", facility}, {"seq", object.seq}, {"reason", pause.reason}, {"detail", landed.error().message}});
    }
    store_.set_landing_paused(facility, pause.reason, base::unix_ms_now());
    return false;
  }
  if (paused_.erase(facility) > 0) {
    logger_.info("receiver.landing_resumed", "landing of this facility continues", {{"facility", facility}});
  }
  const LandingState state = landed ? LandingState::landed : LandingState::quarantined;
  const std::string reason = landed ? std::string() : landed.error().code;
  const std::string erasure = landed && landed->withdrawn > 0 ? erasure_receipt(object, landed->erasure) : std::string();
  if (!store_.record_landing(object, state, reason, base::unix_ms_now(), erasure)) {
    logger_.info("receiver.landing_rewound", "an operator's retry rewound this facility's landing; landing again from there",
                 {{"facility", facility}});
    return true;
  }
  if (landed) {
    logger_.info("receiver.landed", "an object was landed",
                 {{"facility", facility}, {"seq", object.seq}, {"written", static_cast<std::uint64_t>(landed->written)},
                  {"renamed", static_cast<std::uint64_t>(landed->renamed)},
                  {"deleted", static_cast<std::uint64_t>(landed->deleted)}});
    if (landed->withdrawn > 0) {
      // Counts only: neither the patients nor the files are named.
      const crypto::ErasureCounts& erased = landed->erasure;
      logger_.info("receiver.erased", "withdrawn patients were erased in every source; an erasure receipt was signed",
                   {{"facility", facility}, {"seq", object.seq}, {"patients", erased.patients},
                    {"ssmix2_folders", erased.ssmix2_folders}, {"files_rewritten", erased.files_rewritten},
                    {"dpc_rows", erased.dpc_rows}, {"receipts", erased.receipts}});
    }
  } else {
    const LandingFailure& failure = landed.error();
    logger_.error("receiver.landing_quarantined",
                  "ALARM: an object could not be landed and is quarantined; landing continues with the next seq. "
                  "Resolve it: medgw-receiver landing retry|skip SEQ --facility CODE",
                  {{"facility", facility}, {"seq", object.seq}, {"reason", failure.code}, {"detail", failure.message},
                   {"entry", failure.entry}, {"patient", failure.patient.empty() ? std::string("-") : failure.patient}});
  }
  return true;
}

std::string LandingQueue::erasure_receipt(const StoredObject& object, const crypto::ErasureCounts& counts) const {
  const std::string erased_at = base::rfc3339_utc(std::chrono::system_clock::now());
  const auto signature = receipt_key_.sign(
      base::as_bytes(crypto::erasure_statement(object.object_id, object.seq, object.facility, erased_at, counts)));
  base::JsonWriter json;
  json.begin_object().field("format", "medgw-erasure/1").field("object_id", object.object_id);
  json.field("seq", object.seq).field("facility", object.facility).field("erased_at", erased_at);
  json.field("patients", counts.patients).field("ssmix2_folders", counts.ssmix2_folders);
  json.field("files_rewritten", counts.files_rewritten).field("dpc_rows", counts.dpc_rows);
  json.field("receipts", counts.receipts).field("signature", base::base64_encode(signature, true)).end_object();
  return json.take();
}

}  // namespace medgw::receiver
