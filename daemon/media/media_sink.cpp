// The `dir` media: built in a private folder beside the target
// (<target>.partial-XXXXXX), renamed into place on commit.
#include <daemon/media/media_sink.hpp>

#include <base/output_file.hpp>
#include <base/private_file.hpp>
#include <base/unique_fd.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

namespace medgw::media {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void io_failed(const std::string& what, int error) {
  throw std::system_error(error, std::generic_category(), what);
}

void write_all(int fd, const void* data, std::size_t size, const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, p, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      io_failed(what, errno);
    }
    p += written;
    size -= static_cast<std::size_t>(written);
  }
}

void set_mtime(int fd, std::int64_t mtime_s) {
  const struct timespec times[2] = {{mtime_s, 0}, {mtime_s, 0}};
  (void)::futimens(fd, times);
}

class DirFile final : public StreamedFile {
 public:
  DirFile(base::UniqueFd fd, std::string what, std::int64_t mtime_s)
      : fd_(std::move(fd)), what_(std::move(what)), mtime_s_(mtime_s) {}
  void write(base::ByteView bytes) override { write_all(fd_.get(), bytes.data(), bytes.size(), what_); }
  void close() override {
    set_mtime(fd_.get(), mtime_s_);
    if (::close(fd_.release()) != 0) io_failed(what_, errno);
  }

 private:
  base::UniqueFd fd_;
  std::string what_;
  std::int64_t mtime_s_;
};

class DirSink final : public MediaSink {
 public:
  explicit DirSink(const SinkOptions& options)
      : target_(options.target), file_mode_(options.clear_data ? 0600 : 0644),
        folder_mode_(options.clear_data ? 0700 : 0755), replace_(options.replace) {
    std::string pattern = target_.string() + ".partial-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) io_failed("cannot create a folder beside " + target_.string(), errno);
    building_ = pattern;
    ::chmod(building_.c_str(), folder_mode_);
  }
  ~DirSink() override {
    std::error_code ignored;
    if (!building_.empty()) fs::remove_all(building_, ignored);
  }

  void add(std::string_view path, std::string_view content, std::int64_t mtime_s) override {
    auto file = open_stream(path, mtime_s);
    file->write(base::as_bytes(content));
    file->close();
  }

  std::unique_ptr<StreamedFile> open_stream(std::string_view path, std::int64_t mtime_s) override {
    const fs::path file = building_ / std::string(path);
    make_parents(std::string(path));
    base::UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file_mode_));
    if (!fd) io_failed("cannot write in " + building_.string(), errno);
    return std::make_unique<DirFile>(std::move(fd), "cannot write in " + building_.string(), mtime_s);
  }

  void commit() override {
    std::error_code error;
    if (fs::is_directory(target_, error)) {
      if (fs::is_empty(target_, error)) {
        fs::remove(target_, error);
      } else if (replace_) {
        fs::remove_all(target_, error);
      }
      if (error) io_failed("cannot replace " + target_.string(), error.value());
    }
    if (::rename(building_.c_str(), target_.c_str()) != 0) {
      io_failed("cannot move the media into place at " + target_.string(), errno);
    }
    building_.clear();
    base::sync_directory(target_.parent_path().empty() ? fs::path(".") : target_.parent_path());
  }

 private:
  // Creates the folders of `path` under the building folder (each once).
  void make_parents(const std::string& path) {
    std::size_t at = 0;
    while ((at = path.find('/', at)) != std::string::npos) {
      const std::string folder = path.substr(0, at);
      ++at;
      if (folder == last_folder_ || last_folder_.starts_with(folder + "/")) continue;
      const fs::path full = building_ / folder;
      if (::mkdir(full.c_str(), folder_mode_) != 0 && errno != EEXIST) io_failed("cannot write in " + building_.string(), errno);
    }
    const std::size_t slash = path.rfind('/');
    if (slash != std::string::npos) last_folder_ = path.substr(0, slash);
  }

  fs::path target_;
  fs::path building_;
  unsigned file_mode_;
  unsigned folder_mode_;
  bool replace_;
  std::string last_folder_;
};

}  // namespace

std::string target_problem(const fs::path& target, MediaFormat format, bool replace) {
  std::error_code error;
  const auto status = fs::symlink_status(target, error);
  if (error || !fs::exists(status)) {
    const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    if (!fs::is_directory(parent, error)) return "the folder " + parent.string() + " does not exist; create it first";
    return {};
  }
  if (fs::is_directory(status)) {
    if (fs::is_empty(target, error)) return format == MediaFormat::dir ? std::string() :
        target.string() + " is a folder; give the name of the " + (format == MediaFormat::iso ? "ISO" : "zip") +
        " file to write (e.g. " + (target / "medgw-media").string() + (format == MediaFormat::iso ? ".iso)" : ".zip)");
    if (format != MediaFormat::dir) return target.string() + " is a folder; give a file name for the image";
    if (!replace) return target.string() + " exists and is not empty; choose a new --out, or add --force to replace an "
                                           "earlier medgw media there";
    if (!fs::exists(target / "MANIFEST.JSON", error)) {
      return target.string() + " is not an earlier medgw media (no MANIFEST.JSON): --force replaces only those; "
                               "choose a new --out";
    }
    return {};
  }
  if (format == MediaFormat::dir) return target.string() + " exists and is not a folder; choose a new --out";
  if (!fs::is_regular_file(status)) return target.string() + " exists and is not a regular file; choose a new --out";
  if (!replace) return target.string() + " exists; choose a new --out, or add --force to replace it";
  return {};
}

std::unique_ptr<MediaSink> open_media_sink(const SinkOptions& options) {
  if (options.format == MediaFormat::dir) return std::make_unique<DirSink>(options);
  return open_archive_sink(options);
}

}  // namespace medgw::media
