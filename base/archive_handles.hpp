#pragma once
// RAII for libarchive handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links libarchive itself.
#include <memory>

#include <archive.h>
#include <archive_entry.h>

namespace medgw::base::libarchive {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

using Reader = std::unique_ptr<struct archive, Deleter<archive_read_free>>;
using Writer = std::unique_ptr<struct archive, Deleter<archive_write_free>>;
using Entry = std::unique_ptr<struct archive_entry, Deleter<archive_entry_free>>;

}  // namespace medgw::base::libarchive
