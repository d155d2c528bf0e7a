#pragma once
// An object's MANIFEST.json as landing needs it: every name as the exact
// bytes the gateway sent (`path_base64`/`from_base64` where the name is not
// UTF-8; `path` is then only a lossy rendering), each checked to stay in its
// tree. medgw-object/1 lists every file; /2 lists one change letter per entry
// and only the entries without content in full: a file with content is the
// next tar member, named and sized by its header (DESIGN.md §5). Internal to
// landing.
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
  int version = 1;  // medgw-object/1 or /2
  std::string facility;
  std::string object_id;
  std::uint64_t seq = 0;
  std::vector<ManifestEntry> entries;
  // /1: member name -> entry index (the manifest names every member).
  std::map<std::string, std::size_t> content_of;
  // /2: the entries with content in member order; their source, path and
  // size are the members' (filled in as the members are read).
  std::vector<std::size_t> content_order;
  // Sum of the sizes of the entries with content (/2: as the manifest declares it).
  std::uint64_t content_bytes = 0;
};

// The manifests a gateway writes stay far below this (16 MiB plain objects).
inline constexpr std::uint64_t max_manifest_size = 64ULL << 20;

[[nodiscard]] base::Result<Manifest, LandingFailure> read_manifest(std::string_view text, const LandingRequest& request);

// The patient an SS-MIX2 path names (pid[0:3]/pid[3:6]/pid/...), as its
// keyed tag; empty for other sources or without a tagger.
[[nodiscard]] std::string patient_tag_of(const ManifestEntry& entry, const crypto::PatientTagger* tagger);

}  // namespace medgw::receiver
