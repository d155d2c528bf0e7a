#include <spool/object_builder.hpp>

#include <spool/content_spill.hpp>
#include <spool/zstd_writer.hpp>

#include <crypto/age.hpp>
#include <crypto/hash.hpp>

#include <base/archive_handles.hpp>
#include <base/hex.hpp>
#include <base/output_file.hpp>
#include <base/utf8_locale.hpp>

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <system_error>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::spool {
namespace {

constexpr std::size_t read_block = 256 << 10;

// Hashes and counts the age bytes on their way to the file.
class HashingSink final : public base::ByteSink {
 public:
  explicit HashingSink(base::ByteSink& inner) : inner_(inner) {}
  void write(base::ByteView bytes) override {
    inner_.write(bytes);
    hash_.update(bytes);
    size_ += bytes.size();
  }
  crypto::Sha256& hash() { return hash_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  base::ByteSink& inner_;
  crypto::Sha256 hash_;
  std::uint64_t size_ = 0;
};

// libarchive writes the tar unbuffered (each write reaches the callback at
// once, as it was made); zstd and age follow here.
struct Pipeline {
  crypto::age::Encryptor* encryptor = nullptr;
  ZstdWriter* zstd = nullptr;
  // Tar bytes to drop on their way out: a spilled member's, whose frame is
  // copied in their place (write_spilled).
  std::uint64_t discard = 0;
  std::exception_ptr error;
};

la_ssize_t write_callback(struct archive*, void* client, const void* buffer, size_t length) {
  auto* pipeline = static_cast<Pipeline*>(client);
  try {
    if (pipeline->discard > 0) {
      if (pipeline->discard < length) throw std::system_error(std::make_error_code(std::errc::io_error), "libarchive merged a member's bytes with others");
      pipeline->discard -= length;
    } else {
      pipeline->zstd->write(base::ByteView(static_cast<const std::uint8_t*>(buffer), length));
    }
    return static_cast<la_ssize_t>(length);
  } catch (...) {
    pipeline->error = std::current_exception();
    return -1;
  }
}

class BuildAbort : public std::runtime_error {
 public:
  BuildAbort(BuildFailure failure) : std::runtime_error(failure.message), failure_(std::move(failure)) {}
  [[nodiscard]] const BuildFailure& failure() const { return failure_; }

 private:
  BuildFailure failure_;
};

BuildFailure from_system_error(const std::system_error& error) {
  const int code = error.code().value();
  if (code == ENOSPC || code == EDQUOT || code == EFBIG) {
    return BuildFailure{BuildError::disk_full, 0, "no space left for the object: " + error.code().message()};
  }
  return BuildFailure{BuildError::io_error, 0, error.what()};
}

[[noreturn]] void archive_failed(struct archive* a, const Pipeline& pipeline) {
  if (pipeline.error) std::rethrow_exception(pipeline.error);
  throw BuildAbort(BuildFailure{BuildError::io_error, 0,
                                std::string("libarchive: ") + (archive_error_string(a) ? archive_error_string(a) : "error")});
}

void write_header(struct archive* a, const Pipeline& pipeline, const std::string& name, std::uint64_t size,
                  std::int64_t mtime_ns) {
  base::libarchive::Entry entry(archive_entry_new());
  // Raw filesystem bytes; under the UTF-8 locale below libarchive writes a
  // UTF-8 name as a plain pax path, and anything else with hdrcharset=BINARY.
  archive_entry_copy_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  archive_entry_set_mtime(entry.get(), mtime_ns / 1'000'000'000, mtime_ns % 1'000'000'000);
  const int result = archive_write_header(a, entry.get());
  if (result < ARCHIVE_WARN) archive_failed(a, pipeline);
}

void write_data(struct archive* a, const Pipeline& pipeline, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const la_ssize_t written = archive_write_data(a, p, size);
    if (written <= 0) archive_failed(a, pipeline);
    p += written;
    size -= static_cast<std::size_t>(written);
  }
}

class SourceFile {
 public:
  SourceFile(const ObjectEntry& entry, std::uint64_t expected_size, std::size_t index) : index_(index) {
    // O_NOATIME keeps the sources untouched even in their access times; it
    // needs file ownership, so fall back without it.
    fd_ = ::open(entry.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
    if (fd_ < 0 && errno == EPERM) fd_ = ::open(entry.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd_ < 0) fail(BuildError::source_unreadable, std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) fail(BuildError::source_unreadable, std::strerror(errno));
    if (!S_ISREG(info.st_mode)) fail(BuildError::source_unreadable, "not a regular file");
    if (static_cast<std::uint64_t>(info.st_size) != expected_size) fail(BuildError::source_changed, "its size changed");
  }
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;
  ~SourceFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads the next block; 0 at the end.
  std::size_t read(std::vector<std::uint8_t>& buffer) {
    while (true) {
      const ssize_t got = ::read(fd_, buffer.data(), buffer.size());
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) fail(BuildError::source_unreadable, std::strerror(errno));
    }
  }

  [[noreturn]] void fail(BuildError code, const std::string& why) const {
    throw BuildAbort(BuildFailure{code, index_, "entry " + std::to_string(index_) + ": " + why});
  }

 private:
  std::size_t index_;
  int fd_ = -1;
};

void write_content(struct archive* a, const Pipeline& pipeline, const ObjectEntry& entry, std::size_t index,
                   std::vector<std::uint8_t>& buffer, std::uint64_t& content_bytes) {
  SourceFile source(entry, entry.filter ? entry.source_size : entry.size, index);
  crypto::Sha256 hash;
  std::uint64_t total = 0;
  const std::uint64_t expected = entry.filter ? entry.source_size : entry.size;
  // With a filter, `hash`/`total` follow the file and these its output.
  std::unique_ptr<ContentFilter> filter = entry.filter ? entry.filter() : nullptr;
  crypto::Sha256 output_hash;
  std::uint64_t output_total = 0;
  std::string filtered;
  auto write_filtered = [&] {
    if (output_total + filtered.size() > entry.size) {
      source.fail(BuildError::source_changed, "its filtered copy is longer than when it was hashed");
    }
    output_hash.update(base::as_bytes(filtered));
    write_data(a, pipeline, filtered.data(), filtered.size());
    output_total += filtered.size();
    filtered.clear();
  };
  while (true) {
    const std::size_t got = source.read(buffer);
    if (got == 0) break;
    if (total + got > expected) source.fail(BuildError::source_changed, "it grew while being read");
    hash.update(base::ByteView(buffer.data(), got));
    total += got;
    if (filter) {
      filter->feed(std::string_view(reinterpret_cast<const char*>(buffer.data()), got), filtered);
      write_filtered();
    } else {
      write_data(a, pipeline, buffer.data(), got);
    }
  }
  if (total != expected) source.fail(BuildError::source_changed, "it shrank while being read");
  const std::string source_sha256 = base::to_hex(hash.finish());
  if (source_sha256 != (filter ? entry.source_sha256 : entry.sha256)) {
    source.fail(BuildError::source_changed, "its content changed");
  }
  if (filter) {
    filter->finish(filtered);
    write_filtered();
    // The tar header promised entry.size bytes: a shorter output would
    // leave the archive inconsistent, so it fails the object.
    if (output_total != entry.size || base::to_hex(output_hash.finish()) != entry.sha256) {
      source.fail(BuildError::source_changed, "its filtered copy differs from when it was hashed");
    }
  }
  content_bytes += filter ? output_total : total;
}

// A member compressed while the collector read it (content_spill.hpp): the
// frame in progress ends after the member's tar header, the spilled frame
// follows as it is, and the padding after the member starts a new frame.
// libarchive counts the member's bytes itself, so they go through it as
// zeros and are dropped on the way out.
void write_spilled(struct archive* a, Pipeline& pipeline, const ObjectEntry& entry, std::size_t index,
                   std::uint64_t& content_bytes) {
  const SpilledContent& spilled = *entry.spilled;
  if (spilled.content_size() != entry.size) {
    throw BuildAbort(BuildFailure{BuildError::io_error, index,
                                  "entry " + std::to_string(index) + ": its compressed copy has another size"});
  }
  static const std::vector<std::uint8_t> zeros(read_block);
  pipeline.discard = entry.size;
  for (std::uint64_t left = entry.size; left > 0;) {
    const std::size_t part = left < zeros.size() ? static_cast<std::size_t>(left) : zeros.size();
    write_data(a, pipeline, zeros.data(), part);
    left -= part;
  }
  if (pipeline.discard != 0) {
    throw BuildAbort(BuildFailure{BuildError::io_error, index, "libarchive held back a member's bytes"});
  }
  pipeline.zstd->end_frame();
  spilled.copy_frame_to(*pipeline.encryptor);
  content_bytes += entry.size;
}

}  // namespace

std::string_view build_error_name(BuildError error) {
  switch (error) {
    case BuildError::disk_full: return "disk_full";
    case BuildError::source_changed: return "source_changed";
    case BuildError::source_unreadable: return "source_unreadable";
    case BuildError::io_error: return "io_error";
  }
  return "io_error";
}

std::variant<BuiltObject, BuildFailure> build_object(const std::filesystem::path& target, const ObjectHeader& header,
                                                     std::span<const ObjectEntry> entries,
                                                     std::span<const crypto::X25519PublicKey> recipients,
                                                     const BuildOptions& options) {
  const base::ScopedUtf8Locale utf8_locale;
  try {
    base::AtomicFile file(target, 0640);
    HashingSink hashing(file);
    crypto::age::Encryptor encryptor(recipients, hashing);
    ZstdWriter zstd(encryptor, options.zstd_level, options.zstd_workers);
    Pipeline pipeline{&encryptor, &zstd, 0, nullptr};

    base::libarchive::Writer a(archive_write_new());
    if (!a) throw std::bad_alloc();
    if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
        (!utf8_locale.active() &&
         archive_write_set_format_option(a.get(), "pax", "hdrcharset", "BINARY") != ARCHIVE_OK) ||
        archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK ||
        archive_write_open2(a.get(), &pipeline, nullptr, write_callback, nullptr, nullptr) != ARCHIVE_OK) {
      archive_failed(a.get(), pipeline);
    }

    const std::string manifest = manifest_json(header, entries);
    const std::int64_t created_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(header.created.time_since_epoch()).count();
    write_header(a.get(), pipeline, std::string(manifest_name), manifest.size(), created_ns);
    write_data(a.get(), pipeline, manifest.data(), manifest.size());

    std::vector<std::uint8_t> buffer(read_block);
    std::uint64_t content_bytes = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const ObjectEntry& entry = entries[i];
      if (!entry.has_content()) continue;
      write_header(a.get(), pipeline, entry.source + "/" + entry.path, entry.size, entry.mtime_ns);
      if (entry.data) {
        // Content the collector already read and hashed: sent exactly as hashed.
        if (entry.data->size() != entry.size) {
          throw BuildAbort(BuildFailure{BuildError::source_changed, i, "entry " + std::to_string(i) + ": size mismatch"});
        }
        write_data(a.get(), pipeline, entry.data->data(), entry.data->size());
        content_bytes += entry.data->size();
      } else if (entry.spilled) {
        write_spilled(a.get(), pipeline, entry, i, content_bytes);
      } else {
        write_content(a.get(), pipeline, entry, i, buffer, content_bytes);
      }
    }
    if (archive_write_close(a.get()) < ARCHIVE_WARN) archive_failed(a.get(), pipeline);
    zstd.end_frame();
    encryptor.finish();
    BuiltObject built;
    built.size = hashing.size();
    built.sha256 = base::to_hex(hashing.hash().finish());
    built.content_bytes = content_bytes;
    file.commit();
    built.file = target;
    return built;
  } catch (const BuildAbort& abort) {
    return abort.failure();
  } catch (const std::system_error& error) {
    return from_system_error(error);
  }
}

}  // namespace medgw::spool
