// The backup repository's formats (daemon/backup): names that survive any
// byte, blob references, signed pack lists, packs and snapshots written and
// read back, and write-once naming.
#include <daemon/backup/format.hpp>
#include <daemon/backup/pack.hpp>
#include <backupstore/repository.hpp>
#include <daemon/backup/snapshot.hpp>
#include <tests/support/test_support.hpp>

#include <crypto/age_keys.hpp>

#include <catch2/catch.hpp>

#include <fstream>

using namespace medgw;
using namespace medgw::backup;

namespace {


const std::string secret = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("a path with any byte survives the snapshot's escaping", "[backup]") {
  std::string every;
  for (int byte = 1; byte < 256; ++byte) every.push_back(static_cast<char>(byte));
  const std::string escaped = escape_path(every);
  CHECK(escaped.find('\t') == std::string::npos);
  CHECK(escaped.find('\n') == std::string::npos);
  CHECK(unescape_path(escaped) == every);
  CHECK(unescape_path("100%") == std::nullopt);
  CHECK(unescape_path("%zz") == std::nullopt);
}

TEST_CASE("blob references round-trip and malformed ones are refused", "[backup]") {
  BlobRef ref{blob_id(base::as_bytes(secret), base::as_bytes("content")), "0123456789abcdef0123456789abcdef", 42,
              17, 7};
  CHECK(parse_blob_ref(blob_ref_text(ref)) == ref);
  CHECK_FALSE(parse_blob_ref("00:0123456789abcdef0123456789abcdef:1:2:3"));
  const std::string text = blob_ref_text(ref);
  CHECK_FALSE(parse_blob_ref(text + ":9"));
  CHECK_FALSE(parse_blob_ref(text.substr(0, text.size() - 2)));
  CHECK_FALSE(is_pack_name("0123456789ABCDEF0123456789abcdef"));
}

TEST_CASE("a pack list is signed: any change and a cut are refused", "[backup]") {
  const crypto::SigningKey key = crypto::SigningKey::generate();
  PackList list{"snap", "repo", "2026-12-01T00:00:00Z", 3, 300, 99, std::string(64, 'a'),
                {{"0123456789abcdef0123456789abcdef", 1000, std::string(64, 'b')}}};
  const std::string text = signed_pack_list(list, key);
  auto parsed = parse_pack_list(text, key.public_key());
  REQUIRE(parsed.ok());
  CHECK(parsed->packs.size() == 1);
  CHECK(parsed->packs[0].size == 1000);
  CHECK(parsed->snapshot_size == 99);
  std::string changed = text;
  changed.replace(changed.find("1000"), 4, "1001");
  CHECK(parse_pack_list(changed, key.public_key()).error().code == "pack_list_bad_signature");
  CHECK_FALSE(parse_pack_list(text.substr(0, text.size() / 2), key.public_key()).ok());
  CHECK(parse_pack_list(text, crypto::SigningKey::generate().public_key()).error().code == "pack_list_bad_signature");
}

TEST_CASE("packs and snapshots are written once and read back with the identity", "[backup]") {
  test::TempDir tmp;
  FolderRepository repository(tmp.path());
  REQUIRE(repository.prepare().ok());
  const crypto::X25519Identity identity = crypto::generate_identity();
  const std::vector<crypto::X25519PublicKey> recipients{identity.public_key};
  crypto::age::Identities identities;
  identities.x25519.push_back(identity);

  PackWriter pack(repository, recipients);
  const std::vector<std::string> contents{"", "one", std::string(300'000, 'x'), "three"};
  std::vector<BlobRef> refs;
  for (const std::string& content : contents) {
    refs.push_back(pack.add(blob_id(base::as_bytes(secret), base::as_bytes(content)), base::as_bytes(content)));
  }
  const PackInfo info = pack.finish();
  CHECK(std::filesystem::file_size(repository.pack_file(info.name)) == info.size);
  CHECK(std::filesystem::is_empty(tmp.path() / "tmp"));

  const OpenPack opened = open_pack(repository, info.name, identities);
  CHECK(opened.failure.empty());
  for (std::size_t i = 0; i < contents.size(); ++i) {
    const auto content = read_blob(opened, refs[i], base::as_bytes(secret));
    REQUIRE(content.ok());
    CHECK(std::string(content->begin(), content->end()) == contents[i]);
  }
  const auto index = pack_index(opened);
  REQUIRE(index.ok());
  CHECK(*index == refs);
  CHECK(read_blob(opened, refs[1], base::as_bytes(std::string("another secret"))).error().code == "blob_damaged");

  SnapshotHeader header{"snapshot-1", "2026-12-01T00:00:00Z", "131234567", "ed25519:x",
                        {{"ssmix2", true, "ssmix2"}, {"dpc", false, "dpc"}}};
  SnapshotWriter writer(repository, recipients, header);
  const std::vector<FileEntry> files{
      {0, "000/000/0000001/2026\t1/a\nb%c", 3, 1'700'000'000'123'456'789, 0640, {refs[1]}},
      {1, std::string("\xff\xfe-not-utf8"), 300'000, -5, 0600, {refs[2], refs[0]}},
      {1, "empty", 0, 0, 0644, {}},
  };
  for (const FileEntry& file : files) writer.add(file);
  writer.finish();
  writer.publish("snapshot-1");

  std::vector<FileEntry> read;
  SnapshotHeader read_header;
  const SnapshotReadResult result = read_snapshot(
      repository, "snapshot-1", identities,
      {[&](const SnapshotHeader& h) { read_header = h; },
       [&](std::uint64_t, const FileEntry& file) { read.push_back(file); }});
  CHECK(result.complete);
  CHECK(result.problem.empty());
  CHECK(read_header.volumes.size() == 2);
  CHECK(read_header.volumes[0].by_patient);
  CHECK(read_header.volumes[1].type == "dpc");
  REQUIRE(read.size() == files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    CHECK(read[i].path == files[i].path);
    CHECK(read[i].mtime_ns == files[i].mtime_ns);
    CHECK(read[i].mode == files[i].mode);
    CHECK(read[i].blobs == files[i].blobs);
  }

  // Write once: a second file of the same name is refused and the first kept.
  auto again = repository.new_file();
  again->write(base::as_bytes(std::string("other")));
  CHECK_THROWS_AS(again->publish(repository.snapshot_file("snapshot-1")), std::system_error);
  again.reset();
  CHECK(std::filesystem::is_empty(tmp.path() / "tmp"));
  CHECK(read_snapshot(repository, "snapshot-1", identities, {}).complete);

  // A cut snapshot: the complete flag says so.
  const auto file = repository.snapshot_file("snapshot-1");
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 1);
  const SnapshotReadResult cut = read_snapshot(repository, "snapshot-1", identities, {});
  CHECK_FALSE(cut.complete);
  CHECK_THAT(cut.problem, Catch::Contains("truncated"));
}
