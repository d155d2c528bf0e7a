#pragma once
// The collectors' tables in state.db: the file index and the scan tables of
// a collection pass, the last pass of each source, the opt-out register.
#include <spool/state_db.hpp>

#include <span>
#include <string_view>

namespace medgw::collectors {

[[nodiscard]] std::span<const spool::Migration> collectors_migrations();
inline constexpr std::string_view collectors_component = "collectors";

}  // namespace medgw::collectors
