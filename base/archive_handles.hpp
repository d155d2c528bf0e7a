#pragma once
// RAII for libarchive handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links libarchive itself.
#include <base/c_handle.hpp>

#include <memory>

#include <archive.h>
#include <archive_entry.h>

namespace medgw::base::libarchive {

using Reader = CHandle<struct archive, archive_read_free>;
using Writer = CHandle<struct archive, archive_write_free>;
using Entry = CHandle<struct archive_entry, archive_entry_free>;

}  // namespace medgw::base::libarchive
