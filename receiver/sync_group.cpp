#include <receiver/sync_group.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::receiver {

void fsync_each_once(const std::vector<std::filesystem::path>& paths, std::vector<int>& errors) {
  struct Target {
    base::UniqueFd fd;
    int error = 0;
  };
  std::map<std::filesystem::path, Target> targets;
  for (const std::filesystem::path& path : paths) targets.try_emplace(path);
  // Every file's write-back is started before the first fsync: on ext4 the
  // first fsync's journal commit then carries the blocks of all of them and
  // the later fsyncs find little left to do (one commit per round, not one
  // per file; bench/upload's small objects).
  for (auto& [path, target] : targets) {
    target.fd = base::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target.fd.valid()) {
      target.error = errno != 0 ? errno : EIO;
      continue;
    }
    struct stat status {};
    if (::fstat(target.fd.get(), &status) == 0 && S_ISREG(status.st_mode)) {
      ::sync_file_range(target.fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);  // a hint; fsync below decides
    }
  }
  for (auto& [path, target] : targets) {
    if (target.error == 0 && ::fsync(target.fd.get()) != 0) target.error = errno != 0 ? errno : EIO;
  }
  for (std::size_t i = 0; i < paths.size(); ++i) errors[i] = targets[paths[i]].error;
}

}  // namespace medgw::receiver
