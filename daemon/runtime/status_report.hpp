#pragma once
// What `medgw status --json` prints and the daemon serves at /status: built
// from state.db (read-only, without the writer lock) and the config. Counts,
// paths of the sources and tags only; never a patient's ID or name.
#include <daemon/config/config.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <base/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace medgw::daemon {

// The public half of the gateway's object-signing key, "ed25519:<base64>";
// empty before the first object (the key is made on first use).
[[nodiscard]] std::string gateway_key(const Config& config);

// The patient-level policy as status shows it: counts only.
struct PolicyFacts {
  std::optional<std::size_t> listed;  // entries on the opt-out list, when it could be read
  std::string problem;                // why it could not (file and line; never a value)
  std::uint64_t withdrawn = 0;        // withdraw entries spooled, ever
  std::uint64_t erased = 0;           // of those, confirmed erased by the central (a verified erasure receipt)
  std::string since;                  // YYYY-MM-DD or empty
  std::string unidentified;
  // policy.notice (counts only, never whom)
  std::string notice_start;                     // YYYY-MM-DD, empty = no notice period
  std::int64_t notice_wait_days = 0;
  std::optional<std::size_t> notice_registered;  // register entries, when it could be read
  std::uint64_t notice_patients = 0;             // patients with an encounter since start
  std::uint64_t notice_eligible = 0;             // of those and the register's, eligible today
  std::uint64_t notice_pending = 0;              // not yet
};
[[nodiscard]] PolicyFacts policy_facts(const Config& config, spool::StateDb* state,
                                       std::chrono::system_clock::time_point now);

// state.db opened read-only (without the writer lock) and the spool's
// statistics; `problem` says why there is no state (not created yet, newer
// schema, unreadable).
struct StateView {
  std::optional<spool::StateDb> state;
  std::string problem;
  std::optional<spool::SpoolStats> stats;
};
[[nodiscard]] StateView open_state_view(const Config& config, std::chrono::system_clock::time_point now);

// The JSON document; `extra` adds fields to the top-level object (the
// daemon's health and timings).
[[nodiscard]] std::string status_json(const Config& config, std::chrono::system_clock::time_point now,
                                      const std::function<void(base::JsonWriter&)>& extra = {});

}  // namespace medgw::daemon
