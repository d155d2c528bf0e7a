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

struct SourcePass {
  std::string label;
  std::filesystem::path root;  // the folder it reads (status, change hints); empty when not a folder
  Duration scan_interval{};
  Duration settle{};
  // Reads the paths of its data for the patient policy; nullptr when the
  // data is not filed by patient.
  std::shared_ptr<const collectors::SourceProfile> profile;
  std::function<std::unique_ptr<collectors::ChangeFeed>(const FeedContext&)> make_feed;
};

// What every type's passes() may need beyond the source's own config.
struct SourceContext {
  std::string facility_code;
};

struct SourceType {
  const SourceTypeSpec& spec;
  std::vector<SourcePass> (*passes)(const SourceConfig& source, const SourceContext& context);
};

// A pass over the folder tree `root` read with `profile` (a TreeFeed).
[[nodiscard]] SourcePass folder_pass(std::string label, std::filesystem::path root, const SourceConfig& source,
                                     std::shared_ptr<const collectors::SourceProfile> profile);

}  // namespace medgw::daemon
