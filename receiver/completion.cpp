#include <receiver/completion.hpp>

#include <receiver/files.hpp>
#include <receiver/identifiers.hpp>
#include <receiver/object_claim.hpp>

#include <base/base64.hpp>
#include <base/json.hpp>
#include <base/time_format.hpp>

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::receiver {
namespace {

// A finish round whose transaction failed (not an errno).
constexpr int database_failed = -1;
// A finish round committed but not flushed to the disk: the objects are
// stored (their files stay in place) but the client must not hear it yet.
constexpr int not_flushed = -2;

}  // namespace

Completer::Completer(const ReceiverConfig& config, Store& store, const crypto::SigningKey& receipt_key,
                     GatewaySignatures& signatures, log::Logger logger)
    : config_(config),
      store_(store),
      receipt_key_(receipt_key),
      signatures_(signatures),
      logger_(std::move(logger)),
      syncs_(fsync_each_once),
      finishes_([&store](const std::vector<Store::Finish>& finishes, std::vector<int>& errors) {
        try {
          store.finish_objects(finishes, errors);
        } catch (const std::system_error&) {
          for (int& error : errors) {
            if (error == 0) error = not_flushed;
          }
        } catch (const std::exception&) {
          errors.assign(finishes.size(), database_failed);
        }
      }) {}

bool Completer::completing(std::string_view upload_id) {
  std::lock_guard lock(completing_mutex_);
  return completing_.contains(upload_id);
}

void Completer::forget(const std::string& upload_id) {
  if (const auto partial = partial_upload_file(config_.data_dir, upload_id)) {
    std::error_code ec;
    std::filesystem::remove(*partial, ec);
  }
  store_.remove_upload(upload_id);
}

std::string Completer::receipt_json(const StoredObject& object, const std::string& received_at) const {
  const auto signature = receipt_key_.sign(
      base::as_bytes(crypto::receipt_statement(object.object_id, object.seq, object.facility, object.sha256, received_at)));
  base::JsonWriter json;
  json.begin_object().field("object_id", object.object_id).field("seq", object.seq).field("facility", object.facility);
  json.field("sha256", object.sha256).field("received_at", received_at);
  json.field("signature", base::base64_encode(signature, true)).end_object();
  return json.take();
}

CompletionResult Completer::complete(const Upload& upload, const FacilityEntry& facility, const std::string& computed_sha256) {
  auto refuse = [&](Completed outcome, const std::string& code, const std::string& why) {
    logger_.error("receiver.object_refused", "a finished upload was refused",
                  {{"facility", facility.code}, {"upload", upload.id}, {"reason", code}});
    forget(upload.id);
    return CompletionResult{outcome, why};
  };
  // Validated at POST; checked again here, where paths are made from them.
  const auto claim = parse_object_claim(upload.metadata, facility);
  if (!claim) return refuse(Completed::refused, claim.error().code, claim.error().message);
  if (upload.facility != facility.code || (!upload.object_id.empty() && claim->object_id != upload.object_id)) {
    return refuse(Completed::refused, "upload_mismatch", "the upload does not belong to this client");
  }
  const auto partial = partial_upload_file(config_.data_dir, upload.id);
  if (!partial) return refuse(Completed::refused, "bad_identifier", partial.error().message);
  std::string digest = computed_sha256;
  if (digest.empty()) {
    auto hashed = sha256_of_file(*partial);
    if (!hashed) return {Completed::failed, "the receiver cannot read the upload now; try again"};
    digest = std::move(*hashed);
  }
  if (digest != claim->sha256) {
    return refuse(Completed::restart, "sha256_mismatch",
                  "the SHA-256 of the bytes received differs from the sha256 metadata; send the object again");
  }
  if (!signatures_.signed_by_gateway(*claim, facility)) {
    return refuse(Completed::refused, "not_signed", "the object is not signed by a gateway of this facility");
  }
  const auto name = stored_object_name(claim->facility, claim->seq, claim->object_id);
  if (!name) return refuse(Completed::refused, name.error().code, name.error().message);

  const std::int64_t received = base::unix_ms_now();
  StoredObject object;
  object.object_id = claim->object_id;
  object.facility = claim->facility;
  object.seq = claim->seq;
  object.sha256 = claim->sha256;
  object.file = *name;
  object.receipt_json =
      receipt_json(object, base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(received))));

  {
    std::lock_guard lock(completing_mutex_);
    completing_.insert(upload.id);
  }
  struct Done {
    Completer& self;
    const std::string& id;
    ~Done() {
      std::lock_guard lock(self.completing_mutex_);
      self.completing_.erase(id);
    }
  } done{*this, upload.id};

  Claim decided = Claim::busy;
  try {
    decided = store_.claim_object(object, upload.length, received, upload.id,
                                  [this](std::string_view owner) { return completing(owner); });
  } catch (const std::exception&) {
    logger_.error("receiver.store_failed", "receiver.db refused the object's row; the client will send again",
                  {{"facility", facility.code}, {"seq", object.seq}});
    return {Completed::failed, "the receiver cannot store the object now; try again"};
  }
  switch (decided) {
    case Claim::duplicate: {
      // The object is stored: these bytes are a copy. Only this upload's own
      // file goes; the stored file is never touched.
      std::error_code ec;
      std::filesystem::remove(*partial, ec);
      store_.complete_upload(upload.id);
      logger_.info("receiver.duplicate", "an object arrived again; the copy is dropped",
                   {{"facility", facility.code}, {"seq", object.seq}});
      return {Completed::duplicate, {}};
    }
    case Claim::busy:
      logger_.info("receiver.completion_busy", "another upload of the same object is being stored; the client asks again",
                   {{"facility", facility.code}, {"seq", object.seq}});
      return {Completed::busy, "another upload of this object is being stored; try again"};
    case Claim::claimed_seq_conflict:
      logger_.error("receiver.seq_conflict",
                    "ALARM: an object reuses a seq another object of the facility has; stored and quarantined for "
                    "landing (medgw-receiver status; landing retry|skip)",
                    {{"facility", facility.code}, {"seq", object.seq}});
      [[fallthrough]];
    case Claim::claimed: break;
  }
  return store_claimed(upload, object, *partial);
}

CompletionResult Completer::store_claimed(const Upload& upload, const StoredObject& object,
                                          const std::filesystem::path& partial) {
  const auto target = path_under(config_.data_dir / "store", object.file);
  bool renamed = false;
  try {
    if (!target) throw std::runtime_error("a stored object's name leaves the store");
    // The object's bytes and its name in the store reach the disk in one
    // round shared with the objects finishing alongside (each path synced
    // once), before the commit that records the object as stored. uploads/
    // is not synced: a power cut that keeps the old name there as well leaves
    // a second name of the same bytes, which recover() (claim still storing:
    // the store's name goes) or the upload's expiry (object stored: the
    // upload's name goes) removes; one fsync fewer per round.
    std::vector<std::filesystem::path> to_sync{*target, target->parent_path()};
    if (std::filesystem::create_directories(target->parent_path())) to_sync.push_back(target->parent_path().parent_path());
    std::filesystem::rename(partial, *target);
    renamed = true;
    if (const int error = syncs_.submit(std::move(to_sync)); error != 0) {
      throw std::system_error(error, std::generic_category(), "cannot fsync the stored object or the store's folders");
    }
    if (const int error = finishes_.submit({{object.object_id, upload.id}}); error != 0) {
      if (error == not_flushed) {
        // Recorded as stored, not yet durable: kept as it is (a later flush
        // makes it so); the client keeps its copy and, asking again, finds
        // the object stored.
        logger_.error("receiver.store_failed", "receiver.db could not be flushed to the disk; the client will ask again",
                      {{"facility", object.facility}, {"seq", object.seq}});
        return {Completed::failed, "the receiver cannot store the object now; try again"};
      }
      if (error == ENOENT) throw std::runtime_error("an object's claim was lost before it was stored");
      throw std::runtime_error("receiver.db refused the object's row");
    }
  } catch (const std::exception& error) {
    // Undo: the bytes go back to the upload, the claim is released, so the
    // upload is as before its last PATCH and the client simply sends it again.
    std::error_code ec;
    if (renamed) std::filesystem::rename(*target, partial, ec);
    bool released = true;
    try {
      store_.release_claim(object.object_id, upload.id);
    } catch (const std::exception&) {
      released = false;  // a stale claim: the next completion takes it over
    }
    const auto* system = dynamic_cast<const std::system_error*>(&error);
    logger_.error("receiver.store_failed", "an object could not be stored; its upload stays, the client sends again",
                  {{"facility", object.facility}, {"seq", object.seq},
                   {"reason", system != nullptr ? classify_errno(system->code()).code : std::string("database")},
                   {"bytes_back", !ec}, {"claim_released", released}});
    if (ec) forget(upload.id);  // the bytes could not go back: a new upload (404 on HEAD)
    return {Completed::failed, "the receiver cannot store the object now; try again"};
  }
  logger_.info("receiver.object_received", "an object was received and verified",
               {{"facility", object.facility}, {"seq", object.seq}, {"bytes", upload.length}});
  return {Completed::stored, {}, object.receipt_json};
}

void Completer::recover() {
  for (const Store::Storing& claim : store_.storing_claims()) {
    const auto target = path_under(config_.data_dir / "store", claim.file);
    const auto partial = partial_upload_file(config_.data_dir, claim.upload_id);
    std::error_code ec;
    if (target && std::filesystem::exists(*target, ec)) {
      if (partial && !std::filesystem::exists(*partial, ec)) {
        std::filesystem::rename(*target, *partial, ec);
      } else {
        std::filesystem::remove(*target, ec);
      }
    }
    store_.release_claim(claim.object_id, claim.upload_id);
    logger_.info("receiver.completion_undone", "a completion cut off by a stop was undone; the client sends again", {});
  }
  std::set<std::string> known;
  for (const Upload& upload : store_.uploads()) {
    known.insert(upload.id + ".part");
    if (upload.completed) continue;
    const auto partial = partial_upload_file(config_.data_dir, upload.id);
    std::error_code ec;
    if (!partial || !std::filesystem::exists(*partial, ec)) {
      store_.remove_upload(upload.id);
      logger_.warn("receiver.upload_dropped", "an upload whose file is gone was dropped (the client starts again)",
                   {{"facility", upload.facility}});
    }
  }
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(config_.data_dir / "uploads", ec)) {
    if (!known.contains(item.path().filename().string())) std::filesystem::remove(item.path(), ec);
  }
}

}  // namespace medgw::receiver
