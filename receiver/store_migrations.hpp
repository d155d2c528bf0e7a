#pragma once
// receiver.db's schema: numbered migrations compiled in, each applied in its
// own BEGIN IMMEDIATE transaction with PRAGMA user_version; a database newer
// than this binary is refused.
#include <base/sqlite.hpp>

namespace medgw::receiver {

inline constexpr int receiver_schema_version = 3;

// Brings `db` to receiver_schema_version. Throws std::runtime_error naming
// the file when the database is newer than this medgw-receiver.
void migrate_receiver_db(base::Database& db);

}  // namespace medgw::receiver
