#include <daemon/media/raw_storage.hpp>

#include <crypto/age.hpp>

#include <base/archive_handles.hpp>
#include <base/utf8_locale.hpp>

#include <exception>
#include <stdexcept>
#include <string>

namespace medgw::media {
namespace {

class EncryptedRawStorage final : public RawStorage {
 public:
  EncryptedRawStorage(MediaSink& sink, std::string_view passphrase, int work_factor)
      : stream_(sink.open_stream(raw_archive_name, std::time(nullptr))),
        encryptor_(passphrase, work_factor, *stream_),
        archive_(archive_write_new()) {
    if (!archive_) throw std::bad_alloc();
    if (archive_write_set_format_pax_restricted(archive_.get()) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(archive_.get(), 1) != ARCHIVE_OK ||
        output_.open(archive_.get()) != ARCHIVE_OK) {
      failed();
    }
  }

  void add(std::string_view label, std::string_view path, std::string_view content, std::int64_t mtime_ns) override {
    base::libarchive::Entry entry(archive_entry_new());
    const std::string name = std::string(label) + "/" + std::string(path);
    // Raw bytes: a UTF-8 name is a plain pax path, anything else is written
    // byte for byte with hdrcharset=BINARY (libarchive warns, and that is all).
    archive_entry_copy_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(entry.get(), mtime_ns / 1'000'000'000, mtime_ns % 1'000'000'000);
    const int result = archive_write_header(archive_.get(), entry.get());
    if (result == ARCHIVE_WARN) ++binary_names_;
    if (result < ARCHIVE_WARN) failed();
    const char* data = content.data();
    std::size_t size = content.size();
    while (size > 0) {
      const la_ssize_t written = archive_write_data(archive_.get(), data, size);
      if (written <= 0) failed();
      data += written;
      size -= static_cast<std::size_t>(written);
    }
  }

  void finish() override {
    if (archive_write_close(archive_.get()) != ARCHIVE_OK) failed();
    encryptor_.finish();
    stream_->close();
  }

  [[nodiscard]] std::uint64_t names_not_portable() const override { return binary_names_; }

 private:
  [[noreturn]] void failed() {
    output_.rethrow_if_failed();
    const char* message = archive_error_string(archive_.get());
    throw std::runtime_error(std::string("cannot write ") + std::string(raw_archive_name) + ": libarchive: " +
                             (message ? message : "error"));
  }

  const base::ScopedUtf8Locale utf8_locale_;
  std::unique_ptr<StreamedFile> stream_;
  crypto::age::Encryptor encryptor_;
  base::libarchive::WriteTo<crypto::age::Encryptor> output_{encryptor_};
  base::libarchive::Writer archive_;
  std::uint64_t binary_names_ = 0;
};

class ClearRawStorage final : public RawStorage {
 public:
  explicit ClearRawStorage(MediaSink& sink) : sink_(sink) {}
  void add(std::string_view label, std::string_view path, std::string_view content, std::int64_t mtime_ns) override {
    const std::string name = std::string(raw_folder_name) + "/" + std::string(label) + "/" + std::string(path);
    sink_.add(name, content, mtime_ns / 1'000'000'000);
  }
  void finish() override {}

 private:
  MediaSink& sink_;
};

}  // namespace

std::unique_ptr<RawStorage> open_encrypted_raw_storage(MediaSink& sink, std::string_view passphrase, int work_factor) {
  return std::make_unique<EncryptedRawStorage>(sink, passphrase, work_factor);
}

std::unique_ptr<RawStorage> open_clear_raw_storage(MediaSink& sink) { return std::make_unique<ClearRawStorage>(sink); }

}  // namespace medgw::media
