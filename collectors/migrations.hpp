#pragma once
// The collectors' tables in state.db: the file index and the scan tables of
// a collection pass, the last pass of each source, the opt-out register.
#include <spool/state_db.hpp>

#include <span>

namespace medgw::collectors {

[[nodiscard]] std::span<const spool::Migration> collectors_migrations();

}  // namespace medgw::collectors
