#pragma once
// The FHIR source's part of state.db (component "fhir", see spool::Schema):
// how far a server was read (REST watermarks, the Bulk Data export in
// progress and its last transactionTime) and which resource versions were
// fetched near the watermark (to drop repeats of the overlap window).
#include <spool/state_db.hpp>

#include <span>
#include <string_view>

namespace medgw::fhir {

[[nodiscard]] std::span<const spool::Migration> fhir_migrations();
inline constexpr std::string_view fhir_component = "fhir";

}  // namespace medgw::fhir
