#include <daemon/runtime/source_type.hpp>

#include <collectors/tree_feed.hpp>

namespace medgw::daemon {

SourcePass folder_pass(std::string label, std::filesystem::path root, const SourceConfig& source,
                       std::shared_ptr<const collectors::SourceProfile> profile) {
  SourcePass pass;
  pass.label = std::move(label);
  pass.root = std::move(root);
  pass.scan_interval = source.scan_interval;
  pass.settle = source.settle;
  pass.profile = profile;
  pass.make_feed = [profile](const FeedContext& context) -> std::unique_ptr<collectors::ChangeFeed> {
    return std::make_unique<collectors::TreeFeed>(context.state, *profile, context.settings, context.logger,
                                                  context.clock, context.progress);
  };
  return pass;
}

}  // namespace medgw::daemon
