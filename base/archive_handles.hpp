#pragma once
// RAII for libarchive handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links libarchive itself.
#include <base/bytes.hpp>
#include <base/c_handle.hpp>

#include <exception>
#include <memory>

#include <archive.h>
#include <archive_entry.h>

namespace medgw::base::libarchive {

using Reader = CHandle<struct archive, archive_read_free>;
using Writer = CHandle<struct archive, archive_write_free>;
using Entry = CHandle<struct archive_entry, archive_entry_free>;

// Opens a writer whose output goes to `target` (anything with
// write(ByteView)). An exception the target throws is kept for the caller -
// libarchive is C and must not see it - and libarchive is told the write
// failed; rethrow_if_failed() raises it again.
template <class Target>
class WriteTo {
 public:
  explicit WriteTo(Target& target) noexcept : target_(target) {}
  WriteTo(const WriteTo&) = delete;
  WriteTo& operator=(const WriteTo&) = delete;

  [[nodiscard]] int open(struct archive* writer) {
    return archive_write_open2(writer, this, nullptr, &WriteTo::callback, nullptr, nullptr);
  }
  void rethrow_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static la_ssize_t callback(struct archive*, void* client, const void* buffer, std::size_t length) {
    auto* self = static_cast<WriteTo*>(client);
    try {
      self->target_.write(ByteView(static_cast<const std::uint8_t*>(buffer), length));
      return static_cast<la_ssize_t>(length);
    } catch (...) {
      self->error_ = std::current_exception();
      return -1;
    }
  }

  Target& target_;
  std::exception_ptr error_;
};

}  // namespace medgw::base::libarchive
