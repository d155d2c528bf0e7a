#pragma once
// Lands received objects as the central's plaintext tree:
// <landing>/<facility>/<source>/<path>. Objects of a facility land strictly in
// seq order (landing_queue.hpp decides what lands when).
//
// The object is decrypted with the central's age identity, its MANIFEST.json
// read first, and each member written to a temporary file and renamed into
// place only when it matches its entry (medgw-object/1: size and SHA-256;
// /2: its place among the members, the manifest's letters and total size;
// age and the signature authenticate the bytes). Names are the exact
// bytes the gateway sent (`path_base64` where the name is not UTF-8), checked
// before anything is written: absolute paths, "..", empty components and
// anything but regular files are refused, so nothing lands outside the tree.
// Decompression is guarded while it streams: a member may not grow past its
// manifest size or landing_max_member_size, and the object's plain bytes
// may not exceed landing_max_ratio times its encrypted size.
//
// Durable once per object, not per file: the landing file system is synced
// when all members are staged (before any gets its name in the tree) and
// again when they are in place, before land() returns success. A crash
// before that leaves the object unrecorded; it lands again whole.
//
// A failure says why with a stable code and never with a path or a patient
// ID: where a patient is concerned it carries the receiver's keyed tag
// (pt:xxxxxxxx), so it can be logged as it is.
#include <crypto/age.hpp>
#include <crypto/patient_tag.hpp>
#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace medgw::receiver {

struct LandingSummary {
  std::size_t written = 0;
  std::size_t renamed = 0;
  std::size_t deleted = 0;
  std::size_t withdrawn = 0;  // patients withdrawn: erased in every source (landing_erasure.hpp)
  crypto::ErasureCounts erasure;  // what their withdrawal erased (counts only)
};

struct LandingFailure {
  std::string code;     // stable, PHI-free: member_unlisted, ratio_exceeded, disk_full, ...
  std::string message;  // for people; PHI-free
  // The environment, not the object, is at fault (disk full, permissions):
  // land the same object again later instead of quarantining it.
  bool transient = false;
  std::int64_t entry = -1;  // manifest entry concerned, if any
  std::string patient;      // pt:xxxxxxxx of the patient concerned, if any
};

struct LandingLimits {
  std::uint64_t max_ratio = 1000;
  std::uint64_t max_member_size = 64ULL << 30;
  std::uint64_t min_free = 0;  // bytes kept free on the landing file system
};

struct LandingRequest {
  std::filesystem::path object_file;
  std::filesystem::path facility_root;
  // What the object must say about itself (empty/0: not checked).
  std::string facility;
  std::string object_id;
  std::uint64_t seq = 0;
  LandingLimits limits;
  const crypto::PatientTagger* tagger = nullptr;  // for failures that concern a patient
};

[[nodiscard]] base::Result<LandingSummary, LandingFailure> land(const LandingRequest& request,
                                                                 const crypto::age::Identities& identity);

// The same for callers that want an exception: LandingError carries only the
// PHI-free message.
class LandingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
LandingSummary land_object(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
                           const std::filesystem::path& facility_root);

// A relative path that stays inside the tree (identifiers.hpp is_safe_relative_path).
[[nodiscard]] bool safe_relative_path(std::string_view path);

}  // namespace medgw::receiver
