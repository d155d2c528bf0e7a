#include <daemon/delivery/erasure_check.hpp>

#include <daemon/delivery/erasure_receipt.hpp>

namespace medgw::daemon {

ErasureChecks::ErasureChecks(const tus::Session& session, base::Database& db, UploadReport& report,
                             const log::Logger& logger)
    : session_(session), db_(db), report_(report), logger_(logger), pending_(collectors::erasures_to_confirm(db)) {
  if (pending_.empty()) return;
  if (!session_.offer.erasures || !session_.receipt_key) {
    // A plain tus server keeps no erasure receipts; without central.receipt_key
    // none could be verified: the withdrawals stay unconfirmed.
    report_.erasures_unconfirmable += pending_.size();
    pending_.clear();
  }
}

std::optional<tus::Request> ErasureChecks::next() {
  if (next_ >= pending_.size()) return std::nullopt;
  return tus::Request{tus::Method::get, session_.endpoint + "erasures/" + pending_[next_].object_id,
                      {"Tus-Resumable: 1.0.0"}, {}};
}

void ErasureChecks::abandon() {
  report_.erasures_pending += pending_.size() - std::min(next_, pending_.size());
  next_ = pending_.size();
}

void ErasureChecks::stop() {
  abandon();
  report_.stopped = true;
}

void ErasureChecks::on_reply(const tus::Reply& reply) {
  const collectors::WithdrawObject& object = pending_.at(next_);
  const auto* response = std::get_if<tus::Response>(&reply);
  if (response == nullptr) {
    logger_.warn("upload.erasure_unreachable", "the central could not be asked for erasure receipts; asked again later",
                 {{"seq", object.seq}, {"error", std::get<tus::TransportFailure>(reply).message}});
    abandon();
    return;
  }
  ++next_;
  if (response->status == 202) {
    ++report_.erasures_pending;  // not landed yet at the central
    return;
  }
  if (response->status != 200) {
    ++report_.erasures_pending;
    logger_.warn("upload.erasure_missing", "the central has no erasure receipt for a delivered withdraw object yet",
                 {{"seq", object.seq}, {"status", static_cast<std::int64_t>(response->status)}});
    return;
  }
  const auto confirmation =
      verify_erasure_receipt(response->body, ErasureSubject{object.object_id, object.seq, session_.facility},
                             *session_.receipt_key);
  if (!confirmation) {
    ++report_.erasures_invalid;
    logger_.error("upload.erasure_receipt_invalid",
                  "ALARM: the central's erasure receipt for a withdraw object does not check out; the withdrawal "
                  "stays unconfirmed and is asked for again; tell the central's operators",
                  {{"seq", object.seq}, {"reason", confirmation.error().code}});
    return;
  }
  collectors::record_erasure(db_, object.object_id, confirmation->erased_at, response->body);
  ++report_.erasures_confirmed;
  const crypto::ErasureCounts& counts = confirmation->counts;
  logger_.info("upload.erasure_confirmed",
               "the central confirmed (signed) that withdrawn patients were erased in every source",
               {{"seq", object.seq}, {"erased_at", confirmation->erased_at}, {"patients", counts.patients},
                {"files_rewritten", counts.files_rewritten}, {"dpc_rows", counts.dpc_rows},
                {"receipts", counts.receipts}});
}

}  // namespace medgw::daemon
