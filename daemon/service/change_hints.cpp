#include <daemon/service/change_hints.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <deque>
#include <map>
#include <set>

#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace medgw::daemon {

namespace asio = boost::asio;

namespace {

constexpr std::uint32_t watch_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                     IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
constexpr std::size_t entries_per_slice = 2000;
// Each watch costs the kernel about 1 KiB and us a path: beyond this, the
// periodic scans cover the rest.
constexpr std::size_t max_watches = 100'000;

// Filesystems where inotify does not see writes made by other machines.
bool remote_filesystem(const std::filesystem::path& root) {
  struct statfs info {};
  if (::statfs(root.c_str(), &info) != 0) return false;
  switch (static_cast<unsigned long>(info.f_type)) {
    case 0x6969UL:      // NFS
    case 0x517BUL:      // SMB
    case 0xFF534D42UL:  // CIFS
    case 0xFE534D42UL:  // SMB2
    case 0x65735546UL:  // FUSE (sshfs, s3fs, ...)
      return true;
    default:
      return false;
  }
}

}  // namespace

struct ChangeHints::Impl : std::enable_shared_from_this<ChangeHints::Impl> {
  asio::io_context& io;
  log::Logger logger;
  Callback callback;
  int fd = -1;
  std::optional<asio::posix::stream_descriptor> stream;
  struct Watch {
    std::string label;
    std::filesystem::path dir;
  };
  std::map<int, Watch> watches;  // by watch descriptor
  std::deque<std::pair<std::string, std::filesystem::path>> pending;  // directories still to watch
  bool limit_reported = false;
  bool stopped = false;
  bool walking = false;
  bool announced = false;
  std::uint64_t generation = 0;
  std::array<char, 64 * 1024> buffer{};

  Impl(asio::io_context& context, log::Logger log, Callback cb)
      : io(context), logger(std::move(log)), callback(std::move(cb)) {}

  ~Impl() {
    if (stream) stream.reset();  // closes fd
    else if (fd >= 0) ::close(fd);
  }

  bool open() {
    if (fd >= 0) return true;
    fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      logger.warn("hints.unavailable", "inotify is not available; changes are found by the periodic scans",
                  {{"error", std::error_code(errno, std::generic_category()).message()}});
      return false;
    }
    stream.emplace(io, fd);
    read_events();
    return true;
  }

  void add_watch(const std::string& label, const std::filesystem::path& dir) {
    const int wd = watches.size() < max_watches ? ::inotify_add_watch(fd, dir.c_str(), watch_mask) : -1;
    if (wd >= 0) {
      watches[wd] = Watch{label, dir};
      return;
    }
    if ((watches.size() >= max_watches || errno == ENOSPC) && !limit_reported) {
      limit_reported = true;
      logger.warn("hints.limit", "the inotify watch limit is reached; the rest of the tree is found by the periodic "
                  "scans (raise fs.inotify.max_user_watches, see the packaged sysctl.d file)",
                  {{"watches", static_cast<std::int64_t>(watches.size())}});
    }
  }

  // Watches directories in slices, yielding to the loop in between.
  void walk_some(std::uint64_t walk_generation) {
    if (stopped || walk_generation != generation) return;
    std::size_t done = 0;
    while (!pending.empty() && done < entries_per_slice && !limit_reported) {
      auto [label, dir] = std::move(pending.front());
      pending.pop_front();
      add_watch(label, dir);
      std::error_code ec;
      for (std::filesystem::directory_iterator it(dir, std::filesystem::directory_options::skip_permission_denied, ec),
           end;
           !ec && it != end; it.increment(ec)) {
        ++done;
        std::error_code type_ec;
        if (it->is_directory(type_ec) && !it->is_symlink(type_ec)) pending.emplace_back(label, it->path());
      }
    }
    if (!pending.empty() && !limit_reported) {
      asio::post(io, [self = shared_from_this(), walk_generation] { self->walk_some(walk_generation); });
      return;
    }
    pending.clear();
    walking = false;
    if (announced) return;
    announced = true;
    logger.info("hints.watching", "watching the sources for changes",
                {{"directories", static_cast<std::int64_t>(watches.size())}});
  }

  void read_events() {
    stream->async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         if (ec || self->stopped) return;
                         self->drain();
                         self->read_events();
                       });
  }

  void drain() {
    std::set<std::string> touched;
    while (true) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got <= 0) break;
      for (std::size_t at = 0; at + sizeof(inotify_event) <= static_cast<std::size_t>(got);) {
        inotify_event event{};
        std::memcpy(&event, buffer.data() + at, sizeof event);
        const char* name = buffer.data() + at + sizeof(inotify_event);
        at += sizeof(inotify_event) + event.len;
        if ((event.mask & IN_Q_OVERFLOW) != 0) {
          for (const auto& [wd, watch] : watches) touched.insert(watch.label);
          continue;
        }
        const auto found = watches.find(event.wd);
        if (found == watches.end()) continue;
        const std::string label = found->second.label;
        if ((event.mask & IN_IGNORED) != 0) {
          watches.erase(found);
          continue;
        }
        touched.insert(label);
        if ((event.mask & (IN_CREATE | IN_MOVED_TO)) != 0 && (event.mask & IN_ISDIR) != 0 && event.len > 0 &&
            !limit_reported) {
          // A new folder (a new patient, a new date): watch it and what it holds.
          pending.emplace_back(label, found->second.dir / name);
          if (!walking) {
            walking = true;
            asio::post(io, [self = shared_from_this(), g = generation] { self->walk_some(g); });
          }
        }
      }
    }
    for (const std::string& label : touched) callback(label);
  }
};

ChangeHints::ChangeHints(asio::io_context& io, log::Logger logger, Callback callback)
    : impl_(std::make_shared<Impl>(io, std::move(logger), std::move(callback))) {}

ChangeHints::~ChangeHints() { stop(); }

void ChangeHints::watch(Roots roots) {
  Impl& impl = *impl_;
  if (impl.stopped || !impl.open()) return;
  for (const auto& [wd, watch] : impl.watches) ::inotify_rm_watch(impl.fd, wd);
  impl.watches.clear();
  impl.pending.clear();
  impl.limit_reported = false;
  impl.announced = false;
  ++impl.generation;
  for (auto& [label, root] : roots) {
    if (remote_filesystem(root)) {
      impl.logger.info("hints.remote", "the source is on a network filesystem; it is found by the periodic scans",
                       {{"source", label}});
      continue;
    }
    impl.pending.emplace_back(label, root);
  }
  impl.walking = true;
  asio::post(impl.io, [self = impl_, g = impl.generation] { self->walk_some(g); });
}

void ChangeHints::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->stream) {
    boost::system::error_code ignored;
    impl_->stream->cancel(ignored);
  }
}

std::size_t ChangeHints::watched() const { return impl_->watches.size(); }

}  // namespace medgw::daemon
