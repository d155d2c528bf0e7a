#include <tools/sample/output.hpp>

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::sample {

void FileWriter::ensure_folder(std::string_view relative) {
  if (relative.empty() || made_.contains(std::string(relative))) return;
  const auto slash = relative.rfind('/');
  if (slash != std::string_view::npos) ensure_folder(relative.substr(0, slash));
  const std::filesystem::path folder = root_ / relative;
  if (::mkdir(folder.c_str(), 0755) == 0) {
    ++totals_.folders;
  } else if (errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "cannot create folder " + folder.string());
  }
  // Bounded: folders of finished patients are never needed again, and a
  // re-made folder costs one EEXIST.
  if (made_.size() > 4096) made_.clear();
  made_.emplace(relative);
}

namespace {

void write_all(int fd, std::string_view content, const std::filesystem::path& file) {
  while (!content.empty()) {
    const ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write " + file.string());
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
}

void finish(int fd, std::int64_t mtime_unix_seconds, const std::filesystem::path& file) {
  const struct timespec times[2] = {{mtime_unix_seconds, 0}, {mtime_unix_seconds, 0}};
  ::futimens(fd, times);
  if (::close(fd) != 0) throw std::system_error(errno, std::generic_category(), "cannot close " + file.string());
}

int create(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot create " + file.string());
  return fd;
}

}  // namespace

void FileWriter::write(std::string_view relative, std::string_view content, std::int64_t mtime_unix_seconds) {
  StreamedFile file(*this, relative);
  file.append(content);
  file.close(mtime_unix_seconds);
}

StreamedFile::StreamedFile(FileWriter& writer, std::string_view relative) : writer_(writer) {
  const auto slash = relative.rfind('/');
  if (slash != std::string_view::npos) writer.ensure_folder(relative.substr(0, slash));
  path_ = writer.root() / relative;
  fd_ = create(path_);
}

StreamedFile::~StreamedFile() {
  if (fd_ >= 0) ::close(fd_);
}

void StreamedFile::append(std::string_view bytes) {
  write_all(fd_, bytes, path_);
  bytes_ += bytes.size();
}

void StreamedFile::close(std::int64_t mtime_unix_seconds) {
  const int fd = fd_;
  fd_ = -1;
  finish(fd, mtime_unix_seconds, path_);
  writer_.count_file(bytes_);
}

}  // namespace medgw::sample
