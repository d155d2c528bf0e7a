// The reference receiver's landing refuses objects that would write outside
// its tree: absolute paths, "..", and members that are not regular files
// (a symlink pointing out). Hostile objects are built here with libarchive
// and age the way a gateway would, but with crafted names.
#include <tests/support/test_support.hpp>

#include <receiver/landing.hpp>

#include <crypto/age.hpp>
#include <crypto/age_keys.hpp>
#include <crypto/hash.hpp>

#include <base/byte_sink.hpp>
#include <base/hex.hpp>

#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

namespace medgw {
namespace {

struct Member {
  std::string name;
  std::string content;
  bool symlink = false;
};

// An age-encrypted tar.zst: MANIFEST.json, then the members as given.
void write_object(const std::filesystem::path& file, const crypto::X25519Identity& identity, const std::string& manifest,
                  const std::vector<Member>& members) {
  std::string tar;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);  // no zero padding after the zstd frame
  archive_write_open2(
      a, &tar, nullptr,
      [](struct archive*, void* out, const void* buffer, size_t length) -> la_ssize_t {
        static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
        return static_cast<la_ssize_t>(length);
      },
      nullptr, nullptr);
  auto add = [&](const std::string& name, const std::string& content, bool symlink) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    if (symlink) {
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_symlink(entry, content.c_str());
      archive_entry_set_size(entry, 0);
    } else {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
    }
    archive_entry_set_perm(entry, 0644);
    archive_write_header(a, entry);
    if (!symlink) archive_write_data(a, content.data(), content.size());
    archive_entry_free(entry);
  };
  add("MANIFEST.json", manifest, false);
  for (const Member& member : members) add(member.name, member.content, member.symlink);
  archive_write_close(a);
  archive_write_free(a);
  const std::vector<crypto::X25519PublicKey> recipients{identity.public_key};
  const auto encrypted = crypto::age::encrypt(base::as_bytes(tar), recipients);
  test::write_file(file, std::string(encrypted.begin(), encrypted.end()));
}

std::string manifest_for(const std::string& path, const std::string& content, const std::string& change = "add") {
  return R"({"format":"medgw-object/1","entries":[{"source":"ssmix2","path":")" + path + R"(","size":)" +
         std::to_string(content.size()) + R"(,"sha256":")" + base::to_hex(crypto::sha256(base::as_bytes(content))) +
         R"(","change":")" + change + R"(","meta":{}}]})";
}

// A central's identity, a facility's landing root and the object file.
struct LandingFixture {
  LandingFixture() { identities.x25519.push_back(identity); }
  test::TempDir dir;
  crypto::X25519Identity identity = crypto::generate_identity();
  crypto::age::Identities identities;
  std::filesystem::path root = dir.path() / "landing" / "131234567";
  std::filesystem::path object = dir.path() / "object.age";
};

TEST_CASE_METHOD(LandingFixture, "landing writes a well-formed object and refuses paths out of the tree", "[landing]") {

  write_object(object, identity, manifest_for("001/234/0012345/a", "hello"), {{"ssmix2/001/234/0012345/a", "hello"}});
  const receiver::LandingSummary summary = receiver::land_object(object, identities, root);
  CHECK(summary.written == 1);
  CHECK(test::read_file(root / "ssmix2/001/234/0012345/a") == "hello");

  for (const std::string& bad : {std::string("../../escaped"), std::string("/etc/escaped"), std::string("a/../../escaped"),
                                 std::string("a//b"), std::string("./a")}) {
    INFO(bad);
    write_object(object, identity, manifest_for(bad, "x"), {{"ssmix2/" + bad, "x"}});
    CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "escaped"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "landing" / "escaped"));

  // A symlink member pointing out of the tree, listed or not, is refused.
  write_object(object, identity, manifest_for("001/234/0012345/link", ""),
               {{"ssmix2/001/234/0012345/link", "/etc/passwd", true}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  CHECK_FALSE(std::filesystem::is_symlink(root / "ssmix2/001/234/0012345/link"));

  // A member the manifest does not list, or content that does not match it.
  write_object(object, identity, manifest_for("001/234/0012345/b", "b"), {{"ssmix2/001/234/0012345/c", "b"}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  write_object(object, identity, manifest_for("001/234/0012345/b", "b"), {{"ssmix2/001/234/0012345/b", "B"}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  CHECK_FALSE(std::filesystem::exists(root / "ssmix2/001/234/0012345/b"));
}

// medgw-object/2: a letter per entry; a file is its member, named and sized
// by the tar header alone.
std::string manifest_v2_for(std::string_view changes, std::uint64_t content_bytes, std::size_t files) {
  std::string meta;
  for (std::size_t i = 0; i < files; ++i) meta += i == 0 ? "{}" : ",{}";
  return R"({"format":"medgw-object/2","changes":")" + std::string(changes) + R"(","content_bytes":)" +
         std::to_string(content_bytes) + R"(,"meta":[)" + meta + R"(],"entries":[]})";
}

TEST_CASE_METHOD(LandingFixture, "landing a medgw-object/2 object takes names and sizes from the members, checked as /1's",
                 "[landing]") {

  write_object(object, identity, manifest_v2_for("AA", 8, 2),
               {{"ssmix2/001/234/0012345/a", "hello"}, {"dpc/202603/EFn.txt", "dpc"}});
  const receiver::LandingSummary summary = receiver::land_object(object, identities, root);
  CHECK(summary.written == 2);
  CHECK(test::read_file(root / "ssmix2/001/234/0012345/a") == "hello");
  CHECK(test::read_file(root / "dpc/202603/EFn.txt") == "dpc");

  for (const std::string& bad : {std::string("ssmix2/../../escaped"), std::string("ssmix2//etc/escaped"),
                                 std::string("../escaped"), std::string("ssmix2"), std::string("/ssmix2/x")}) {
    INFO(bad);
    write_object(object, identity, manifest_v2_for("A", 1, 1), {{bad, "x"}});
    CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "escaped"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "landing" / "escaped"));
  write_object(object, identity, manifest_v2_for("A", 0, 1), {{"ssmix2/001/234/0012345/link", "/etc/passwd", true}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  CHECK_FALSE(std::filesystem::is_symlink(root / "ssmix2/001/234/0012345/link"));
  // More bytes than declared, and fewer: nothing of either lands.
  write_object(object, identity, manifest_v2_for("A", 1, 1), {{"ssmix2/001/234/0012345/b", "bb"}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  write_object(object, identity, manifest_v2_for("AA", 4, 2), {{"ssmix2/001/234/0012345/b", "bb"}});
  CHECK_THROWS_AS(receiver::land_object(object, identities, root), receiver::LandingError);
  CHECK_FALSE(std::filesystem::exists(root / "ssmix2/001/234/0012345/b"));
}

TEST_CASE("safe relative paths", "[landing]") {
  CHECK(receiver::safe_relative_path("a/b/c"));
  CHECK(receiver::safe_relative_path("123/456/1234567/-/ADT-00/x_1"));
  CHECK_FALSE(receiver::safe_relative_path(""));
  CHECK_FALSE(receiver::safe_relative_path("/a"));
  CHECK_FALSE(receiver::safe_relative_path("a/../b"));
  CHECK_FALSE(receiver::safe_relative_path(".."));
  CHECK_FALSE(receiver::safe_relative_path("a/"));
  CHECK_FALSE(receiver::safe_relative_path(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace medgw

namespace medgw {
namespace {

std::string receipt_line(int number, const std::string& chart) {
  // RE with 38 fields: レセプト番号 (2), 診療年月 (4), 生年月日 (7), カルテ番号 (14).
  std::string line = "RE," + std::to_string(number) + ",1112,202602,NAME,1,19800101";
  for (int field = 8; field <= 38; ++field) line += "," + std::string(field == 14 ? chart : "");
  return line + "\r\n";
}

std::uint64_t inode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_ino;
}

TEST_CASE("a withdraw erases the patient's DPC rows and receipts, repeats safely, and clears a cut-off rewrite",
          "[landing]") {
  test::TempDir dir;
  const crypto::X25519Identity identity = crypto::generate_identity();
  crypto::age::Identities identities;
  identities.x25519.push_back(identity);
  const auto root = dir.path() / "landing" / "131234567";
  const auto object = dir.path() / "object.age";
  const std::string title = "施設コード\tデータ識別番号\r\n";
  test::write_file(root / "dpc/202602/EFn_131234567_2602.txt",
                   title + "131234567\t0000000001\trow-a\r\n131234567\t0000000002\trow-b\r\n");
  test::write_file(root / "dpc/202602/EFn_131234567_2601.txt", title + "131234567\t0000000002\trow-c\r\n");
  test::write_file(root / "receipt/202602/RECEIPTC.UKE",
                   "IR,1,13,1,1234567,,H,202603,00,\r\n" + receipt_line(1, "A001") + "HO,06130012,,,1,100\r\n" +
                       receipt_line(2, "B002") + "HO,06130012,,,1,200\r\nGO,2,300,99\r\n\x1a");
  test::write_file(root / "ssmix2/A00/1/A001/20260201/ADT-00/A001_x", "message");
  const auto untouched = root / "dpc/202602/EFn_131234567_2601.txt";
  const std::uint64_t untouched_inode = inode_of(untouched);

  write_object(object, identity,
               R"({"format":"medgw-object/1","entries":[{"source":"policy","path":"optout","change":"withdraw",)"
               R"("meta":{"patient_id":"A001","dpc_id":"0000000001","dpc_sources":["dpc"],"receipt_sources":["receipt"]}}]})",
               {});
  const receiver::LandingSummary first = receiver::land_object(object, identities, root);
  CHECK(first.withdrawn == 1);
  CHECK(first.erasure.patients == 1);
  CHECK(first.erasure.ssmix2_folders == 1);
  CHECK(first.erasure.files_rewritten == 2);
  CHECK(first.erasure.dpc_rows == 1);
  CHECK(first.erasure.receipts == 1);
  CHECK_FALSE(std::filesystem::exists(root / "ssmix2/A00/1/A001"));
  const std::string dpc = title + "131234567\t0000000002\trow-b\r\n";
  const std::string uke =
      "IR,1,13,1,1234567,,H,202603,00,\r\n" + receipt_line(1, "B002") + "HO,06130012,,,1,200\r\nGO,1,200,99\r\n\x1a";
  CHECK(test::read_file(root / "dpc/202602/EFn_131234567_2602.txt") == dpc);
  CHECK(test::read_file(root / "receipt/202602/RECEIPTC.UKE") == uke);
  CHECK(inode_of(untouched) == untouched_inode);  // held nothing of theirs: never written
  const std::uint64_t rewritten_inode = inode_of(root / "receipt/202602/RECEIPTC.UKE");

  // A crash between the staged rewrite and its rename leaves the old file
  // and the staged one; the object lands again whole: the leftovers go and
  // nothing more is removed (nothing is written either).
  test::write_file(root / ".landing-rewrite", "stale");
  test::write_file(root / "..landing-rewrite.tmp-0011223344556677", "stale");
  const receiver::LandingSummary again = receiver::land_object(object, identities, root);
  CHECK(again.erasure.files_rewritten == 0);
  CHECK(again.erasure.dpc_rows + again.erasure.receipts + again.erasure.ssmix2_folders == 0);
  CHECK(test::read_file(root / "dpc/202602/EFn_131234567_2602.txt") == dpc);
  CHECK(test::read_file(root / "receipt/202602/RECEIPTC.UKE") == uke);
  CHECK(inode_of(root / "receipt/202602/RECEIPTC.UKE") == rewritten_inode);
  CHECK_FALSE(std::filesystem::exists(root / ".landing-rewrite"));
  CHECK_FALSE(std::filesystem::exists(root / "..landing-rewrite.tmp-0011223344556677"));
}

}  // namespace
}  // namespace medgw
