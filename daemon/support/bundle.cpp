#include <daemon/support/bundle.hpp>

#include <crypto/age.hpp>
#include <crypto/hash.hpp>

#include <base/archive_handles.hpp>
#include <base/hex.hpp>
#include <base/output_file.hpp>

#include <ctime>
#include <exception>
#include <stdexcept>

namespace medgw::daemon {
namespace {

// Where libarchive's output goes: the file, or an age encryptor in front of it.
struct Output {
  base::ByteSink* sink = nullptr;
  std::exception_ptr error;
};

la_ssize_t write_callback(struct archive*, void* client, const void* buffer, size_t length) {
  auto* output = static_cast<Output*>(client);
  try {
    output->sink->write(base::ByteView(static_cast<const std::uint8_t*>(buffer), length));
    return static_cast<la_ssize_t>(length);
  } catch (...) {
    output->error = std::current_exception();
    return -1;
  }
}

class EncryptingSink final : public base::ByteSink {
 public:
  explicit EncryptingSink(crypto::age::Encryptor& encryptor) : encryptor_(encryptor) {}
  void write(base::ByteView bytes) override { encryptor_.write(bytes); }

 private:
  crypto::age::Encryptor& encryptor_;
};

[[noreturn]] void archive_failed(struct archive* archive, const Output& output, const std::filesystem::path& file) {
  if (output.error) std::rethrow_exception(output.error);
  const char* text = archive_error_string(archive);
  throw std::runtime_error(file.string() + ": libarchive: " + (text != nullptr ? text : "error"));
}

void write_tar_zst(const std::vector<BundleEntry>& entries, base::ByteSink& sink, const std::filesystem::path& file) {
  Output output{&sink, nullptr};
  base::libarchive::Writer archive(archive_write_new());
  if (archive_write_set_format_pax_restricted(archive.get()) != ARCHIVE_OK ||
      archive_write_add_filter_zstd(archive.get()) != ARCHIVE_OK ||
      archive_write_set_filter_option(archive.get(), "zstd", "compression-level", "9") != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(archive.get(), 1) != ARCHIVE_OK ||
      archive_write_open2(archive.get(), &output, nullptr, write_callback, nullptr, nullptr) != ARCHIVE_OK) {
    archive_failed(archive.get(), output, file);
  }
  const std::time_t now = std::time(nullptr);
  for (const BundleEntry& entry : entries) {
    base::libarchive::Entry header(archive_entry_new());
    archive_entry_copy_pathname(header.get(), entry.name.c_str());
    archive_entry_set_filetype(header.get(), AE_IFREG);
    archive_entry_set_perm(header.get(), 0600);
    archive_entry_set_size(header.get(), static_cast<la_int64_t>(entry.content.size()));
    archive_entry_set_mtime(header.get(), now, 0);
    if (archive_write_header(archive.get(), header.get()) < ARCHIVE_WARN) archive_failed(archive.get(), output, file);
    std::size_t done = 0;
    while (done < entry.content.size()) {
      const la_ssize_t written =
          archive_write_data(archive.get(), entry.content.data() + done, entry.content.size() - done);
      if (written <= 0) archive_failed(archive.get(), output, file);
      done += static_cast<std::size_t>(written);
    }
  }
  if (archive_write_close(archive.get()) < ARCHIVE_WARN) archive_failed(archive.get(), output, file);
}

}  // namespace

std::string content_sha256(const std::string& content) {
  return base::to_hex(crypto::sha256(base::ByteView(reinterpret_cast<const std::uint8_t*>(content.data()), content.size())));
}

void write_bundle_file(const std::filesystem::path& file, const std::vector<BundleEntry>& entries,
                       const std::optional<crypto::X25519PublicKey>& recipient) {
  base::AtomicFile out(file, 0600);
  if (recipient) {
    const std::vector<crypto::X25519PublicKey> recipients{*recipient};
    crypto::age::Encryptor encryptor(recipients, out);
    EncryptingSink sink(encryptor);
    write_tar_zst(entries, sink, file);
    encryptor.finish();
  } else {
    write_tar_zst(entries, out, file);
  }
  out.commit();
}

}  // namespace medgw::daemon
