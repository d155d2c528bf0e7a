#pragma once
// A source type: what `sources[].type` names. It declares its own config
// keys (SourceTypeSpec) and makes the passes a configured source runs: each
// pass has a label (its name in the file index, the manifests and status), a
// folder to watch for change hints (if any), the profile that reads its
// files' paths for the patient policy (if its data is filed by patient), and
// the change feed of a pass.
//
// Adding a type: one file with its spec and passes() (see source_ssmix2.cpp,
// source_claims.cpp), one line in source_registry.cpp. docs/architecture.md
// "How to add a source type" walks through it.
#include <daemon/config/config.hpp>
#include <daemon/config/config_table.hpp>

#include <collectors/collection_pass.hpp>
#include <collectors/source_profile.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <base/log.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medgw::daemon {

// What a feed is built from, for one pass.
struct FeedContext {
  spool::StateDb& state;
  const collectors::CollectorSettings& settings;  // label, policy, object sizes; root/settle for trees
  log::Logger logger;
  spool::Clock clock;
  collectors::CollectionPass::Progress progress;
};

// A server a source runs inside `medgw run` (the storage SCP of a `dicom`
// source): started by the service once the status server is up, stopped
// before the collection. What it receives goes to its pass's feed through
// state_dir, never through memory, so `collect --once` sees it too.
class SourceListener {
 public:
  virtual ~SourceListener() = default;
  // Throws std::runtime_error saying what to do (the port is taken...).
  virtual void start() = 0;
  virtual void stop() = 0;
  // Each failing check adds one line saying what to do.
  virtual void health(std::vector<std::string>& reasons) const { (void)reasons; }
  struct Counter {
    std::string name;  // Prometheus name without the medgw_ prefix, e.g. dicom_instances_stored_total
    std::string help;
    std::uint64_t value = 0;
  };
  [[nodiscard]] virtual std::vector<Counter> counters() const { return {}; }
};

// What a listener is built from.
struct ListenerContext {
  std::filesystem::path state_dir;
  spool::SpoolLimits limits;  // the spool's: a listener refuses data when they are reached
  log::Logger logger;
};

struct SourcePass {
  std::string label;
  std::filesystem::path root;  // the folder it reads (status, change hints); empty when not a folder
  Duration scan_interval{};
  Duration settle{};
  // Reads the paths of its data for the patient policy; nullptr when the
  // data is not filed by patient.
  std::shared_ptr<const collectors::SourceProfile> profile;
  std::function<std::unique_ptr<collectors::ChangeFeed>(const FeedContext&)> make_feed;
  // The server this pass's data arrives through, or empty (folder sources).
  std::function<std::unique_ptr<SourceListener>(const ListenerContext&)> make_listener;
  // For status: what waits outside the file index (a DICOM source's staged
  // instances), one line of counts; empty function when nothing can.
  std::function<std::string()> waiting;
};

// What every type's passes() may need beyond the source's own config.
struct SourceContext {
  std::string facility_code;
  std::filesystem::path state_dir;
  spool::SpoolLimits limits;  // spool.*: a source that fetches data stops at them
};

struct SourceType {
  const SourceTypeSpec& spec;
  std::vector<SourcePass> (*passes)(const SourceConfig& source, const SourceContext& context);
};

// How many more bytes a source that takes data in (a DICOM receiver, a FHIR
// fetcher) may take: spool.max_bytes less what the spool holds and `staged`,
// and no more than the disk of state_dir has above spool.min_free; 0: none.
[[nodiscard]] std::uint64_t room_left(const std::filesystem::path& state_dir, const spool::SpoolLimits& limits,
                                      std::uint64_t staged);
[[nodiscard]] inline bool room_for_more(const std::filesystem::path& state_dir, const spool::SpoolLimits& limits,
                                        std::uint64_t staged) {
  return room_left(state_dir, limits, staged) > 0;
}

// A pass over the folder tree `root` read with `profile` (a TreeFeed).
[[nodiscard]] SourcePass folder_pass(std::string label, std::filesystem::path root, const SourceConfig& source,
                                     std::shared_ptr<const collectors::SourceProfile> profile);

}  // namespace medgw::daemon
