#pragma once
// Files that hold secrets (identities, signing keys, the patient-hash key):
// created atomically with mode 0600, and refused on read when group or other
// can read them (DESIGN.md §7 invariant 6).
#include <base/bytes.hpp>

#include <filesystem>
#include <system_error>

namespace medgw::base {

// Creates `file` (mode 0600) holding `content`: written to a temporary sibling,
// fsynced, then hard-linked into place and the folder fsynced, so `file` is
// either absent or complete even after a power cut. Never replaces an existing
// file: throws std::system_error with errc::file_exists instead.
void create_private_file(const std::filesystem::path& file, ByteView content);

// Reads a secret file. Throws std::system_error naming the file when it cannot
// be read, is not a regular file, or its mode lets group/other read it (the
// message says which chmod fixes it).
[[nodiscard]] SecureBytes read_private_file(const std::filesystem::path& file);

// Throws like read_private_file when `file` is group/other readable; does not
// read it. For key files that a library (OpenSSL, libcurl) opens itself.
void require_private_mode(const std::filesystem::path& file);

// fsync() a folder so that a rename or link inside it is durable.
void sync_directory(const std::filesystem::path& folder);

}  // namespace medgw::base
