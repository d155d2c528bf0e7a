#pragma once
// An object's MANIFEST.json as landing needs it: every name as the exact
// bytes the gateway sent (`path_base64`/`from_base64` where the name is not
// UTF-8; `path` is then only a lossy rendering), each checked to stay in its
// tree. Internal to landing.
#include <receiver/landing.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medgw::receiver {

enum class Change { add, modify, rename, remove, withdraw };

struct ManifestEntry {
  std::string source;
  std::string path;  // exact bytes, relative to <facility>/<source>
  std::string from;  // rename: exact bytes
  Change change = Change::add;
  std::uint64_t size = 0;
  std::string sha256;
  // withdraw: whose data goes (never logged): SS-MIX2 folders by patient_id,
  // DPC rows and receipts as claims::PatientSet matches them, in the sources
  // the gateway names as DPC and receipt sources.
  std::string patient_id;
  std::string dpc_id;
  std::string kana_name;
  std::string birth_date;
  std::vector<std::string> dpc_sources;
  std::vector<std::string> receipt_sources;
  // The patient's folder in each source filed by patient (a DICOM source's
  // "<patient>/"), as the gateway names them: {source, folder}.
  std::vector<std::pair<std::string, std::string>> patient_folders;

  [[nodiscard]] bool carries_content() const { return change == Change::add || change == Change::modify; }
  [[nodiscard]] std::string member_name() const { return source + "/" + path; }
};

struct Manifest {
  std::string facility;
  std::string object_id;
  std::uint64_t seq = 0;
  std::vector<ManifestEntry> entries;
  std::map<std::string, std::size_t> content_of;  // member name -> entry index
  std::uint64_t content_bytes = 0;                // sum of the sizes of the entries with content
};

// The manifests a gateway writes stay far below this (16 MiB plain objects).
inline constexpr std::uint64_t max_manifest_size = 64ULL << 20;

[[nodiscard]] base::Result<Manifest, LandingFailure> read_manifest(std::string_view text, const LandingRequest& request);

// The patient an SS-MIX2 path names (pid[0:3]/pid[3:6]/pid/...), as its
// keyed tag; empty for other sources or without a tagger.
[[nodiscard]] std::string patient_tag_of(const ManifestEntry& entry, const crypto::PatientTagger* tagger);

}  // namespace medgw::receiver
