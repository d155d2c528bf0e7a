#include <daemon/runtime/source_type.hpp>

#include <collectors/tree_feed.hpp>

#include <algorithm>
#include <limits>

#include <sys/statvfs.h>

namespace medgw::daemon {

namespace fs = std::filesystem;

std::uint64_t room_left(const fs::path& state_dir, const spool::SpoolLimits& limits, std::uint64_t staged) {
  std::uint64_t disk = std::numeric_limits<std::uint64_t>::max();
  if (struct statvfs info {}; ::statvfs(state_dir.c_str(), &info) == 0) {
    const std::uint64_t free = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
    disk = free > limits.min_free ? free - limits.min_free : 0;
  }
  std::uint64_t spooled = 0;
  std::error_code ec;
  for (fs::directory_iterator it(state_dir / spool::Spool::folder_name, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->path().extension() == ".age") spooled += it->file_size(size_ec);
  }
  const std::uint64_t used = spooled + staged;
  const std::uint64_t quota = used < limits.max_bytes ? limits.max_bytes - used : 0;
  return std::min(quota, disk);
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
