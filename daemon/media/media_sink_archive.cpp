// The `iso` and `zip` media, written with libarchive into an AtomicFile.
// ISO 9660 with Rock Ridge and long Joliet names (joliet=long: 103
// characters; the default 64 cuts SS-MIX2 names of 60+ characters and loses
// their ends), level 3 (files over 4 GiB), and no 65,536-folder limit (a
// storage has a folder per patient and date). The 8-level depth limit stays:
// libarchive relocates deeper folders in the plain ISO 9660 tree only (Rock
// Ridge and Joliet readers see the real tree: tests/system/test_media.py), and
// turning it off crashes libarchive 3.6.2 when the image is closed.
// Streams of unknown size are staged in the private work folder and copied in
// when they close, since an entry's size comes before its data.
#include <daemon/media/media_sink.hpp>

#include <base/archive_handles.hpp>
#include <base/output_file.hpp>
#include <base/unique_fd.hpp>
#include <base/utf8_locale.hpp>

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::media {
namespace {

class ArchiveSink;

class StagedFile final : public StreamedFile {
 public:
  StagedFile(ArchiveSink& sink, std::string path, std::int64_t mtime_s, base::UniqueFd fd)
      : sink_(sink), path_(std::move(path)), mtime_s_(mtime_s), fd_(std::move(fd)) {}
  void write(base::ByteView bytes) override;
  void close() override;

 private:
  ArchiveSink& sink_;
  std::string path_;
  std::int64_t mtime_s_;
  base::UniqueFd fd_;
  std::uint64_t size_ = 0;
};

class ArchiveSink final : public MediaSink {
 public:
  explicit ArchiveSink(const SinkOptions& options)
      : options_(options), file_(options.target, options.clear_data ? 0600 : 0644), archive_(archive_write_new()) {
    if (!archive_) throw std::bad_alloc();
    struct archive* a = archive_.get();
    int result = ARCHIVE_OK;
    if (options.format == MediaFormat::iso) {
      result = archive_write_set_format_iso9660(a);
      std::string settings = "iso9660:joliet=long,iso9660:rockridge,iso9660:iso-level=3,"
                             "iso9660:!limit-dirs";
      if (!options.volume_id.empty()) settings += ",iso9660:volume-id=" + options.volume_id;
      if (result == ARCHIVE_OK) result = archive_write_set_options(a, settings.c_str());
    } else {
      result = archive_write_set_format_zip(a);
    }
    if (result != ARCHIVE_OK || output_.open(a) != ARCHIVE_OK) {
      failed();
    }
  }

  void add(std::string_view path, std::string_view content, std::int64_t mtime_s) override {
    if (!header(path, content.size(), mtime_s, true)) return;
    write_data(content.data(), content.size());
  }

  std::unique_ptr<StreamedFile> open_stream(std::string_view path, std::int64_t mtime_s) override {
    std::string pattern = (options_.work_dir / "stream-XXXXXX").string();
    base::UniqueFd fd(::mkostemp(pattern.data(), O_CLOEXEC));
    if (!fd) throw std::system_error(errno, std::generic_category(), "cannot write in " + options_.work_dir.string());
    ::unlink(pattern.c_str());  // only the descriptor keeps it
    return std::make_unique<StagedFile>(*this, std::string(path), mtime_s, std::move(fd));
  }

  void commit() override {
    if (archive_write_close(archive_.get()) != ARCHIVE_OK) failed();
    file_.commit();
  }

  [[nodiscard]] std::uint64_t names_not_representable() const override { return unrepresentable_; }

  // A staged stream, complete: copy it in as one entry.
  void append_staged(const std::string& path, int fd, std::uint64_t size, std::int64_t mtime_s) {
    if (!header(path, size, mtime_s, false)) return;
    std::vector<char> buffer(1 << 20);
    std::uint64_t offset = 0;
    while (offset < size) {
      const ssize_t got = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) throw std::system_error(got < 0 ? errno : EIO, std::generic_category(), "cannot read back " + path);
      write_data(buffer.data(), static_cast<std::size_t>(got));
      offset += static_cast<std::uint64_t>(got);
    }
  }

 private:
  [[noreturn]] void failed() {
    output_.rethrow_if_failed();
    const char* message = archive_error_string(archive_.get());
    throw std::runtime_error(std::string("cannot write ") + options_.target.string() + ": libarchive: " +
                             (message ? message : "error"));
  }

  // False when libarchive refused the name but can go on (a name that is
  // not UTF-8 has no Joliet form): the file is left out and counted.
  bool header(std::string_view path, std::uint64_t size, std::int64_t mtime_s, bool compress) {
    base::libarchive::Entry entry(archive_entry_new());
    archive_entry_copy_pathname(entry.get(), std::string(path).c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), options_.format == MediaFormat::iso ? 0444 : 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(entry.get(), mtime_s, 0);
    if (options_.format == MediaFormat::zip && compress != compressing_) {
      // Per entry: the viewer's text deflates, the age file would only cost time.
      const int switched = compress ? archive_write_zip_set_compression_deflate(archive_.get())
                                    : archive_write_zip_set_compression_store(archive_.get());
      if (switched != ARCHIVE_OK) failed();
      compressing_ = compress;
    }
    const int result = archive_write_header(archive_.get(), entry.get());
    if (result == ARCHIVE_OK) return true;
    if (result == ARCHIVE_WARN) {
      ++unrepresentable_;
      return true;
    }
    if (result == ARCHIVE_FAILED) {
      ++unrepresentable_;
      return false;
    }
    failed();
  }

  void write_data(const char* data, std::size_t size) {
    while (size > 0) {
      const la_ssize_t written = archive_write_data(archive_.get(), data, size);
      if (written <= 0) failed();
      data += written;
      size -= static_cast<std::size_t>(written);
    }
  }

  const base::ScopedUtf8Locale utf8_locale_;
  SinkOptions options_;
  base::AtomicFile file_;
  base::libarchive::WriteTo<base::AtomicFile> output_{file_};
  base::libarchive::Writer archive_;
  std::uint64_t unrepresentable_ = 0;
  bool compressing_ = true;
};

void StagedFile::write(base::ByteView bytes) {
  const auto* p = bytes.data();
  std::size_t size = bytes.size();
  while (size > 0) {
    const ssize_t written = ::write(fd_.get(), p, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw std::system_error(errno, std::generic_category(), "cannot stage " + path_);
    p += written;
    size -= static_cast<std::size_t>(written);
    size_ += static_cast<std::uint64_t>(written);
  }
}

void StagedFile::close() {
  sink_.append_staged(path_, fd_.get(), size_, mtime_s_);
  fd_.reset();
}

}  // namespace

std::unique_ptr<MediaSink> open_archive_sink(const SinkOptions& options) {
  return std::make_unique<ArchiveSink>(options);
}

}  // namespace medgw::media
