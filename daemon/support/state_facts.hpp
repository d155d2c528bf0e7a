#pragma once
// state.db as support sees it: opened read-only without the writer lock and
// with a short wait for locks, so a running service, a locked or a damaged
// database give an answer (what is wrong) instead of a hang. Counts and ages
// only; the one thing read from rows is the file index's patient IDs, and
// those only feed the redactor.
#include <daemon/runtime/source_registry.hpp>

#include <base/result.hpp>
#include <base/sqlite.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medgw::daemon {

// Error codes: "missing", "locked", "damaged", "unreadable".
[[nodiscard]] base::Result<base::Database> open_state_for_reading(const std::filesystem::path& state_dir,
                                                                  std::chrono::milliseconds busy_wait);

// "pid 1234 (medgw)" when a process holds state_dir/lock (the service or a
// --once command), else empty.
[[nodiscard]] std::string writer_lock_holder(const std::filesystem::path& state_dir);

// Bytes of the objects the spool holds, when state.db can tell.
[[nodiscard]] std::optional<std::uint64_t> spooled_bytes(base::Database& db);

// state.json of a bundle: schema version, every table's row count, the
// spool's counts and ages, each collection's index counts and last pass
// (outcome and age). `plan` may be null (invalid configuration).
[[nodiscard]] std::string state_facts_json(const Config& config, const SourcePlan* plan,
                                           std::chrono::system_clock::time_point now);

// The patient IDs the file index knows: what each pass's profile reads from
// a path, or for a collection no profile knows, the third folder of an
// SS-MIX2-shaped path (ddd/ddd/ID/...).
[[nodiscard]] std::vector<std::string> index_patient_ids(base::Database& db, const SourcePlan* plan);

}  // namespace medgw::daemon
