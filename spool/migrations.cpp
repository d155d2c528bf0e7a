// The schema history of state.db. Append new migrations at the end; never
// edit one that has shipped (databases in the field have already applied it).
#include <spool/state_db.hpp>

#include <array>

namespace medgw::spool {
namespace {

constexpr std::array migrations{
    Migration{1, "gateway identity", R"sql(
CREATE TABLE gateway (
  singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
  gateway_id    TEXT NOT NULL,          -- UUIDv7, names this install in manifests
  facility_code TEXT,                   -- bound on first use, see StateDb::bind_facility
  created_at    TEXT NOT NULL           -- RFC 3339 UTC
) STRICT;
)sql"},
};

}  // namespace

std::span<const Migration> state_migrations() { return migrations; }

}  // namespace medgw::spool
