#include <receiver/sync_group.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <map>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::receiver {

void fsync_each_once(const std::vector<std::filesystem::path>& paths, std::vector<int>& errors) {
  std::map<std::filesystem::path, int> outcome;
  for (const std::filesystem::path& path : paths) outcome.emplace(path, 0);
  for (auto& [path, error] : outcome) {
    base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || ::fsync(fd.get()) != 0) error = errno != 0 ? errno : EIO;
  }
  for (std::size_t i = 0; i < paths.size(); ++i) errors[i] = outcome[paths[i]];
}

}  // namespace medgw::receiver
