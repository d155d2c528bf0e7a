#include <receiver/landing.hpp>

#include <receiver/files.hpp>
#include <receiver/identifiers.hpp>
#include <receiver/landing_erasure.hpp>
#include <receiver/landing_manifest.hpp>

#include <crypto/hash.hpp>

#include <base/archive_handles.hpp>
#include <base/hex.hpp>
#include <base/output_file.hpp>
#include <base/unique_fd.hpp>
#include <base/utf8_locale.hpp>

#include <cerrno>
#include <fstream>
#include <map>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::receiver {
namespace {

using Landed = base::Result<LandingSummary, LandingFailure>;

// Thrown inside this file only; land() turns it into its Result.
struct Refused {
  LandingFailure failure;
};

[[noreturn]] void refuse(std::string code, std::string message, std::int64_t entry = -1, std::string patient = {}) {
  throw Refused{LandingFailure{std::move(code), std::move(message), false, entry, std::move(patient)}};
}

void require_free(const std::filesystem::path& where, std::uint64_t needed, std::uint64_t min_free) {
  const auto available = free_bytes(where);
  if (available && *available < needed + min_free) {
    throw Refused{LandingFailure{"disk_full", "the landing file system lacks room for this object (min_free kept)", true,
                                 -1, {}}};
  }
}

// Decrypts the object into an anonymous temporary file beside the tree (the
// tree is plaintext anyway): it has no name, so a crash leaves nothing behind,
// and it is never synced (it goes when landing ends). libarchive then reads
// the tar.zst from it.
class PlainTemp {
 public:
  PlainTemp(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
            const std::filesystem::path& directory)
      : fd_(open_anonymous(directory)) {
    std::ifstream in(object_file, std::ios::binary);
    if (!in) refuse("object_unreadable", "the stored object cannot be read");
    base::FdSink out(fd_.get(), "the decrypted object");
    crypto::age::Decryptor decryptor(identity, out);
    std::vector<char> block(1 << 20);
    while (in) {
      in.read(block.data(), static_cast<std::streamsize>(block.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      if (auto failure = decryptor.feed(base::ByteView(reinterpret_cast<const std::uint8_t*>(block.data()), got))) {
        refuse("undecryptable", "the object does not decrypt with the central's identity: " + failure->message());
      }
    }
    if (auto failure = decryptor.finish()) {
      refuse("undecryptable", "the object does not decrypt with the central's identity: " + failure->message());
    }
    if (::lseek(fd_.get(), 0, SEEK_SET) != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot read the decrypted object");
    }
  }
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  static base::UniqueFd open_anonymous(const std::filesystem::path& directory) {
    base::UniqueFd fd(::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd.valid() && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      // A file system without O_TMPFILE: a named file, unlinked at once.
      const std::filesystem::path named = directory / ".landing-object.tar.zst";
      fd.reset(::open(named.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (fd.valid()) ::unlink(named.c_str());
    }
    if (!fd.valid()) throw std::system_error(errno, std::generic_category(), "cannot create the decrypted object");
    return fd;
  }
  base::UniqueFd fd_;
};

// Members written so far, removed unless applied.
struct Staging {
  std::map<std::size_t, std::filesystem::path> files;
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    std::error_code ec;
    for (const auto& [index, file] : files) std::filesystem::remove(file, ec);
  }
};

// How many plain bytes the object may expand to (landing_max_ratio).
class Budget {
 public:
  Budget(std::uint64_t encrypted_size, std::uint64_t max_ratio)
      : allowed_(saturating_multiply(std::max<std::uint64_t>(encrypted_size, 64 << 10), max_ratio)) {}
  void spend(std::uint64_t bytes, std::int64_t entry) {
    used_ += bytes;
    if (used_ > allowed_) refuse("ratio_exceeded", "the object expands beyond landing_max_ratio (a decompression bomb?)", entry);
  }
  [[nodiscard]] bool fits(std::uint64_t bytes) const { return bytes <= allowed_ && used_ + bytes <= allowed_; }

 private:
  std::uint64_t allowed_;
  std::uint64_t used_ = 0;
};

std::string read_manifest_member(struct archive* a, Budget& budget) {
  struct archive_entry* member = nullptr;
  const char* name = nullptr;
  if (archive_read_next_header(a, &member) != ARCHIVE_OK || (name = archive_entry_pathname(member)) == nullptr ||
      std::string_view(name) != "MANIFEST.json" || archive_entry_filetype(member) != AE_IFREG) {
    refuse("bad_manifest", "the object's first member is not MANIFEST.json");
  }
  const la_int64_t size = archive_entry_size(member);
  if (size < 0 || static_cast<std::uint64_t>(size) > max_manifest_size) refuse("bad_manifest", "MANIFEST.json is too large");
  budget.spend(static_cast<std::uint64_t>(size), -1);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (archive_read_data(a, text.data(), text.size()) != size) refuse("damaged_tar", "MANIFEST.json is truncated");
  return text;
}

// One member into its staging file, stopped as soon as it grows past its
// manifest entry, then checked (size, SHA-256). Not synced here: the object
// has one durability point for all its members (land_or_throw).
void stage_member(struct archive* a, const ManifestEntry& entry, std::int64_t index,
                  const std::filesystem::path& staged, Budget& budget, const LandingRequest& request,
                  std::vector<char>& block) {
  base::UniqueFd fd(::open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) throw std::system_error(errno, std::generic_category(), "cannot create a staging file");
  base::FdSink out(fd.get(), "a staging file");
  crypto::Sha256 hash;
  const bool check_digest = !entry.sha256.empty();
  std::uint64_t size = 0;
  while (true) {
    const la_ssize_t got = archive_read_data(a, block.data(), block.size());
    if (got < 0) refuse("damaged_tar", "the object's tar is damaged", index);
    if (got == 0) break;
    const auto bytes = static_cast<std::uint64_t>(got);
    if (size + bytes > entry.size) {
      refuse("member_larger_than_manifest", "a file in the object is larger than its manifest entry", index,
             patient_tag_of(entry, request.tagger));
    }
    budget.spend(bytes, index);
    const base::ByteView view(reinterpret_cast<const std::uint8_t*>(block.data()), static_cast<std::size_t>(got));
    out.write(view);
    if (check_digest) hash.update(view);
    size += bytes;
  }
  // /2 names no digest per file: age and the gateway's signature already
  // authenticate every byte of the object.
  if (size != entry.size || (check_digest && base::to_hex(hash.finish()) != entry.sha256)) {
    refuse("member_mismatch", "a file in the object does not match its manifest entry", index,
           patient_tag_of(entry, request.tagger));
  }
  if (::close(fd.release()) != 0) throw std::system_error(errno, std::generic_category(), "cannot write a staging file");
}

// The manifest's entry a member is: /1 by its name, /2 by its place (its
// name and size then fill the entry in, checked as /1's manifest names are).
std::size_t entry_of_member(struct archive_entry* member, std::string_view name, Manifest& manifest,
                            std::size_t members_read, const LandingRequest& request, const Staging& staging,
                            std::uint64_t& declared_left) {
  if (manifest.version == 1) {
    const auto planned = manifest.content_of.find(std::string(name));
    if (planned == manifest.content_of.end() || staging.files.contains(planned->second)) {
      refuse("member_unlisted", "the object holds a file its manifest does not list");
    }
    return planned->second;
  }
  if (members_read >= manifest.content_order.size()) {
    refuse("member_unlisted", "the object holds more files than its manifest lists");
  }
  const std::size_t index = manifest.content_order[members_read];
  ManifestEntry& entry = manifest.entries[index];
  const auto slash = name.find('/');
  entry.source = std::string(name.substr(0, slash));
  entry.path = slash == std::string_view::npos ? std::string() : std::string(name.substr(slash + 1));
  const auto at = static_cast<std::int64_t>(index);
  if (!is_source_name(entry.source) || !is_safe_relative_path(entry.path)) {
    refuse("unsafe_path", "a file in the object names a path outside the tree; the object is refused", at,
           patient_tag_of(entry, request.tagger));
  }
  if (!manifest.content_of.emplace(std::string(name), index).second) {
    refuse("bad_manifest", "the object holds one file twice", at, patient_tag_of(entry, request.tagger));
  }
  if (archive_entry_size_is_set(member) == 0 || archive_entry_size(member) < 0) {
    refuse("damaged_tar", "a file in the object has no size", at);
  }
  entry.size = static_cast<std::uint64_t>(archive_entry_size(member));
  if (entry.size > request.limits.max_member_size) {
    refuse("member_too_large", "a file is larger than landing_max_member_size", at, patient_tag_of(entry, request.tagger));
  }
  if (entry.size > declared_left) {
    refuse("member_larger_than_manifest", "the object's files are larger than its manifest declares", at,
           patient_tag_of(entry, request.tagger));
  }
  declared_left -= entry.size;
  return index;
}

void stage_members(struct archive* a, Manifest& manifest, const LandingRequest& request, Staging& staging,
                   Budget& budget) {
  struct archive_entry* member = nullptr;
  std::vector<char> block(1 << 20);
  std::size_t members_read = 0;
  std::uint64_t declared_left = manifest.content_bytes;
  while (true) {
    const int result = archive_read_next_header(a, &member);
    if (result == ARCHIVE_EOF) break;
    if (result != ARCHIVE_OK) refuse("damaged_tar", "the object's tar is damaged");
    // Under the UTF-8 locale libarchive gives a pax UTF-8 name as UTF-8 and
    // a hdrcharset=BINARY name as its raw bytes: the manifest's exact name.
    const char* name = archive_entry_pathname(member);
    if (name == nullptr) refuse("bad_name", "a member's name cannot be read");
    if (archive_entry_filetype(member) != AE_IFREG) refuse("not_a_file", "the object holds something other than a file");
    const std::size_t planned = entry_of_member(member, name, manifest, members_read, request, staging, declared_left);
    ++members_read;
    const auto index = static_cast<std::int64_t>(planned);
    const ManifestEntry& entry = manifest.entries[planned];
    if (archive_entry_size_is_set(member) != 0 && static_cast<std::uint64_t>(archive_entry_size(member)) != entry.size) {
      refuse("member_mismatch", "a file in the object does not match its manifest entry", index,
             patient_tag_of(entry, request.tagger));
    }
    const auto staged = request.facility_root / (".landing-member-" + std::to_string(planned));
    staging.files[planned] = staged;
    stage_member(a, entry, index, staged, budget, request, block);
  }
  for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
    if (manifest.entries[i].carries_content() && !staging.files.contains(i)) {
      refuse("member_missing", "the manifest lists a file the object does not hold", static_cast<std::int64_t>(i),
             patient_tag_of(manifest.entries[i], request.tagger));
    }
  }
  if (manifest.version == 2 && declared_left != 0) {
    refuse("member_missing", "the object's files are smaller than its manifest declares");
  }
}

std::filesystem::path under(const std::filesystem::path& root, std::string_view relative, std::int64_t index) {
  auto path = path_under(root, relative);
  if (!path) refuse("unsafe_path", "a manifest entry names a path outside the tree", index);
  return *path;
}

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

// The folder and those above it that are missing, made the way tar -x does:
// mkdir first, and up the tree only where it says a parent is missing (no
// stat of folders that exist: an SS-MIX2 tree has more folders than files).
void make_folders(const std::filesystem::path& folder) {
  if (::mkdir(folder.c_str(), 0777) == 0 || errno == EEXIST) return;  // (a file there: the rename says so)
  if (errno != ENOENT || folder == folder.parent_path()) throw_errno("cannot make a folder in the landed tree");
  make_folders(folder.parent_path());
  if (::mkdir(folder.c_str(), 0777) != 0 && errno != EEXIST) throw_errno("cannot make a folder in the landed tree");
}

// A staged member to its name in the tree; its folders are made only when
// the rename finds one missing.
void move_into_tree(const std::filesystem::path& staged, const std::filesystem::path& target) {
  if (::rename(staged.c_str(), target.c_str()) == 0) return;
  if (errno != ENOENT) throw_errno("cannot move a file into the landed tree");
  make_folders(target.parent_path());
  if (::rename(staged.c_str(), target.c_str()) != 0) throw_errno("cannot move a file into the landed tree");
}

// A rename repeats safely: after a crash in the middle of an object, or when
// an operator's retry lands later objects again (landing_queue.hpp).
void apply_rename(const ManifestEntry& entry, std::int64_t index, const std::filesystem::path& source_root,
                  const crypto::PatientTagger* tagger) {
  const std::filesystem::path target = under(source_root, entry.path, index);
  const std::filesystem::path from = under(source_root, entry.from, index);
  std::error_code ec;
  const bool from_exists = std::filesystem::is_regular_file(from, ec);
  const bool target_exists = std::filesystem::exists(target, ec);
  if (target_exists && from_exists) {
    // Done already, and `from` made again by a later object: keep both.
    if (const auto digest = sha256_of_file(target); digest && *digest == entry.sha256) return;
  }
  if (from_exists) {
    std::filesystem::create_directories(target.parent_path());
    std::filesystem::rename(from, target);
    return;
  }
  if (target_exists) return;  // done already (or superseded by a later object)
  refuse("rename_source_missing", "a rename's source is missing from the landed tree (an object missing or quarantined?)",
         index, patient_tag_of(entry, tagger));
}

void apply_entry(const ManifestEntry& entry, std::size_t i, const LandingRequest& request, Staging& staging,
                 LandingSummary& summary) {
  const auto index = static_cast<std::int64_t>(i);
  const std::filesystem::path source_root = under(request.facility_root, entry.source, index);
  switch (entry.change) {
    case Change::add:
    case Change::modify: {
      move_into_tree(staging.files.at(i), under(source_root, entry.path, index));
      staging.files.erase(i);
      ++summary.written;
      break;
    }
    case Change::rename:
      apply_rename(entry, index, source_root, request.tagger);
      ++summary.renamed;
      break;
    case Change::remove: {
      std::error_code ec;
      std::filesystem::remove(under(source_root, entry.path, index), ec);
      ++summary.deleted;
      break;
    }
    case Change::withdraw:
      // The patient opted out: what the central holds of them goes. SS-MIX2
      // folders now; DPC rows and receipts once the object's withdrawals are
      // all known (one pass over the files for all of them).
      summary.erasure.ssmix2_folders += remove_patient_folders(entry.patient_folders, request.facility_root) +
                                        remove_ssmix2_folders(entry.patient_id, request.facility_root);
      ++summary.withdrawn;
      break;
  }
}

// In manifest order. A file operation that fails says which entry (and
// patient, tagged) it was; its own text holds paths and is not passed on.
LandingSummary apply(const Manifest& manifest, const LandingRequest& request, Staging& staging) {
  LandingSummary summary;
  std::vector<const ManifestEntry*> withdrawals;
  for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
    try {
      apply_entry(manifest.entries[i], i, request, staging, summary);
    } catch (const std::system_error& error) {
      const ErrnoClass kind = classify_errno(error.code());
      throw Refused{LandingFailure{kind.code, "a file operation failed: " + error.code().message(), kind.transient,
                                   static_cast<std::int64_t>(i), patient_tag_of(manifest.entries[i], request.tagger)}};
    }
    if (manifest.entries[i].change == Change::withdraw) withdrawals.push_back(&manifest.entries[i]);
  }
  if (!withdrawals.empty()) {
    try {
      erase_claims(withdrawals, request.facility_root, summary.erasure);
    } catch (const std::system_error& error) {
      const ErrnoClass kind = classify_errno(error.code());
      throw Refused{LandingFailure{kind.code, "erasing withdrawn patients' DPC rows and receipts failed: " +
                                                  error.code().message(),
                                   kind.transient, -1, {}}};
    }
    summary.erasure.patients = withdrawals.size();
  }
  return summary;
}

// What a landing cut off by a crash left behind: its temporary files (the
// tree itself holds only source folders). The object is landed again whole;
// every step is safe to repeat.
void clear_leftovers(const std::filesystem::path& facility_root) {
  for (const auto& item : std::filesystem::directory_iterator(facility_root)) {
    // (An AtomicFile's own temporary sibling of one is "." + its name.)
    const std::string name = item.path().filename().string();
    if (item.is_regular_file() && (name.starts_with(".landing-") || name.starts_with("..landing-"))) {
      std::error_code ec;
      std::filesystem::remove(item.path(), ec);
    }
  }
}

// Decrypts the object, reads its manifest and stages every member (all
// checked before anything lands). The decrypted tar.zst is gone on return.
Manifest stage_object(const LandingRequest& request, const crypto::age::Identities& identity,
                      std::uint64_t encrypted_size, Staging& staging) {
  const PlainTemp plain(request.object_file, identity, request.facility_root);
  base::libarchive::Reader a(archive_read_new());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), plain.fd(), 1 << 20) != ARCHIVE_OK) {
    refuse("damaged_tar", "the object's tar.zst cannot be opened");
  }
  Budget budget(encrypted_size, request.limits.max_ratio);
  auto manifest = read_manifest(read_manifest_member(a.get(), budget), request);
  if (!manifest) throw Refused{manifest.error()};
  if (!budget.fits(manifest->content_bytes)) {
    refuse("ratio_exceeded", "the manifest declares more than landing_max_ratio times the object's size");
  }
  require_free(request.facility_root, manifest->content_bytes, request.limits.min_free);
  stage_members(a.get(), *manifest, request, staging, budget);
  return std::move(manifest).value();
}

// Durability is per object, not per file: nothing is fsynced while an object
// lands, and the landing file system is synced twice: once the members are
// staged (their bytes are on disk before any of them gets its name in the
// tree, so a file in the tree is complete even after a power cut), and once
// they are applied (the tree's names are on disk before receiver.db records
// the object as landed). A crash in between leaves a tree that the same
// object lands on again whole (the cursor did not move; every step repeats
// safely).
LandingSummary land_or_throw(const LandingRequest& request, const crypto::age::Identities& identity) {
  const base::ScopedUtf8Locale utf8_locale;
  std::filesystem::create_directories(request.facility_root);
  clear_leftovers(request.facility_root);
  std::error_code missing;
  if (!std::filesystem::is_regular_file(request.object_file, missing)) {
    refuse("object_missing", "the stored object's file is missing from data_dir/store");
  }
  const std::uint64_t encrypted_size = std::filesystem::file_size(request.object_file);
  require_free(request.facility_root, encrypted_size, request.limits.min_free);
  Staging staging;
  const Manifest manifest = stage_object(request, identity, encrypted_size, staging);
  sync_file_system(request.facility_root);
  LandingSummary summary = apply(manifest, request, staging);
  sync_file_system(request.facility_root);
  return summary;
}

}  // namespace

base::Result<LandingSummary, LandingFailure> land(const LandingRequest& request, const crypto::age::Identities& identity) {
  try {
    return land_or_throw(request, identity);
  } catch (const Refused& refused) {
    return base::fail(refused.failure);
  } catch (const std::system_error& error) {
    // filesystem_error's text holds the paths (patients' names): only the
    // errno's class and text go on.
    const ErrnoClass kind = classify_errno(error.code());
    return base::fail(LandingFailure{kind.code, "a file operation failed: " + error.code().message(), kind.transient, -1, {}});
  } catch (const std::bad_alloc&) {
    return base::fail(LandingFailure{"out_of_resources", "out of memory while landing", true, -1, {}});
  } catch (const std::exception&) {
    // Its text may quote names; a deterministic failure is quarantined (retry
    // resolves it), so it cannot stall the facility.
    return base::fail(LandingFailure{"internal_error", "landing failed unexpectedly", false, -1, {}});
  }
}

LandingSummary land_object(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
                           const std::filesystem::path& facility_root) {
  LandingRequest request;
  request.object_file = object_file;
  request.facility_root = facility_root;
  auto landed = land(request, identity);
  if (!landed) throw LandingError(landed.error().message);
  return std::move(landed).value();
}

bool safe_relative_path(std::string_view path) { return is_safe_relative_path(path); }

}  // namespace medgw::receiver
