#include <daemon/backup/source_reader.hpp>

#include <daemon/backup/format.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::backup {
namespace {

std::int64_t nanoseconds(const struct timespec& time) {
  return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

// Reads up to `want` bytes; fewer only at the end of the file. -1 on error.
ssize_t read_full(int fd, std::uint8_t* into, std::size_t want) {
  std::size_t have = 0;
  while (have < want) {
    const ssize_t got = ::read(fd, into + have, want - have);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  return static_cast<ssize_t>(have);
}

base::Error unreadable(int error) { return {"unreadable", std::string("cannot read a file: ") + std::strerror(error)}; }

}  // namespace

base::Result<SourceRead> read_source_file(const std::filesystem::path& file, const Chunker& chunker,
                                          const OnPiece& on_piece) {
  base::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME));
  if (!fd && errno == EPERM) fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return base::fail("vanished", "a file vanished before it was read");
    return base::fail(unreadable(errno));
  }
  struct stat before {};
  if (::fstat(fd.get(), &before) != 0) return base::fail(unreadable(errno));
  if (!S_ISREG(before.st_mode)) return base::fail("unreadable", "not a regular file any more");
  SourceRead read{0, nanoseconds(before.st_mtim), nanoseconds(before.st_ctim), before.st_ino,
                  static_cast<std::uint32_t>(before.st_mode & 07777), false};

  const auto expected = static_cast<std::uint64_t>(before.st_size);
  if (expected < chunking_threshold) {
    std::vector<std::uint8_t> content(static_cast<std::size_t>(expected) + 1);
    const ssize_t got = read_full(fd.get(), content.data(), content.size());
    if (got < 0) return base::fail(unreadable(errno));
    content.resize(static_cast<std::size_t>(got));
    read.size = content.size();
    if (read.size >= chunking_threshold) read.changed = true;  // grew meanwhile: still one piece
    on_piece(content);
  } else {
    const std::size_t max = chunker.sizes().max;
    std::vector<std::uint8_t> buffer(2 * max);
    std::size_t have = 0;
    bool at_end = false;
    while (true) {
      if (!at_end && have < max) {
        const ssize_t got = read_full(fd.get(), buffer.data() + have, buffer.size() - have);
        if (got < 0) return base::fail(unreadable(errno));
        at_end = static_cast<std::size_t>(got) < buffer.size() - have;
        have += static_cast<std::size_t>(got);
      }
      if (have == 0) break;
      const std::size_t cut = chunker.next_cut(base::ByteView(buffer.data(), have));
      on_piece(base::ByteView(buffer.data(), cut));
      read.size += cut;
      std::memmove(buffer.data(), buffer.data() + cut, have - cut);
      have -= cut;
    }
  }
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0) return base::fail(unreadable(errno));
  if (read.size != expected || static_cast<std::uint64_t>(after.st_size) != expected ||
      nanoseconds(after.st_mtim) != read.mtime_ns || nanoseconds(after.st_ctim) != read.ctime_ns) {
    read.changed = true;
  }
  return read;
}

}  // namespace medgw::backup
