#include <daemon/runtime/source_type.hpp>

#include <collectors/tree_feed.hpp>

#include <sys/statvfs.h>

namespace medgw::daemon {

namespace fs = std::filesystem;

bool room_for_more(const fs::path& state_dir, const spool::SpoolLimits& limits, std::uint64_t staged) {
  struct statvfs info {};
  const bool disk_ok = ::statvfs(state_dir.c_str(), &info) != 0 ||
                       static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize >= limits.min_free;
  if (!disk_ok) return false;
  std::uint64_t spooled = 0;
  std::error_code ec;
  for (fs::directory_iterator it(state_dir / spool::Spool::folder_name, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->path().extension() == ".age") spooled += it->file_size(size_ec);
  }
  return spooled + staged < limits.max_bytes;
}

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
