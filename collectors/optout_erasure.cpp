#include <collectors/optout_erasure.hpp>

#include <span>

namespace medgw::collectors {

std::vector<WithdrawObject> erasures_to_confirm(base::Database& db) {
  // Rows written before the object ID was kept find it by seq, in the spool
  // history; an object still in the spool is not delivered yet.
  base::Statement query = db.prepare(
      "SELECT DISTINCT coalesce(r.withdraw_object, d.object_id), r.withdraw_seq FROM optout_register r "
      "LEFT JOIN delivered_objects d ON d.seq = r.withdraw_seq "
      "WHERE r.withdraw_seq IS NOT NULL AND r.erased_at IS NULL "
      "AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.seq = r.withdraw_seq) "
      "AND coalesce(r.withdraw_object, d.object_id) IS NOT NULL ORDER BY r.withdraw_seq");
  std::vector<WithdrawObject> out;
  while (query.step()) out.push_back({query.column_text(0), static_cast<std::uint64_t>(query.column_int64(1))});
  return out;
}

void record_erasure(base::Database& db, std::string_view object_id, std::string_view erased_at,
                    std::string_view receipt_json) {
  base::WriteTransaction transaction(db);
  db.prepare("UPDATE optout_register SET erased_at = ?2, erasure_receipt = ?3, withdraw_object = ?1 "
             "WHERE erased_at IS NULL AND (withdraw_object = ?1 OR (withdraw_object IS NULL AND withdraw_seq = "
             "(SELECT seq FROM delivered_objects WHERE object_id = ?1)))")
      .bind_all(object_id, erased_at, receipt_json)
      .run();
  transaction.commit();
}

std::optional<WithdrawalState> withdrawal_of(base::Database& db, std::string_view patient_key) {
  base::Statement query =
      db.prepare("SELECT withdraw_seq, coalesce(erased_at, '') FROM optout_register WHERE patient_key = ?1");
  query.bind_all(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(patient_key.data()),
                                               patient_key.size()));
  if (!query.step()) return std::nullopt;
  WithdrawalState state;
  if (!query.is_null(0)) state.withdraw_seq = static_cast<std::uint64_t>(query.column_int64(0));
  state.erased_at = query.column_text(1);
  return state;
}

}  // namespace medgw::collectors
