// A large file compressed while the collector reads it (content_spill.hpp):
// the spill has no name in the spool folder and holds no plaintext, it reads
// back as one zstd frame, the builder copies that frame into the object
// between frames of its own (read back by libarchive as the central does and
// by the stock `zstd -d` and `tar`), and a damaged or mismatched spill fails
// the object rather than send something else.
#include <tests/integration/spool_fixture.hpp>
#include <tests/support/object_reader.hpp>

#include <spool/content_spill.hpp>
#include <spool/zstd_writer.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <random>

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

namespace medgw {
namespace {

std::string text_rows(std::size_t rows) {
  std::string out;
  std::mt19937 random(5);
  for (std::size_t i = 0; i < rows; ++i) {
    out += "131234567\t" + std::to_string(1000000000 + random() % 500) + "\t20260131\tMARKER-ROW-" +
           std::to_string(i) + "\r\n";
  }
  return out;
}

// The descriptors of this process that point at unlinked files in `folder`.
std::vector<std::string> unlinked_files_in(const std::filesystem::path& folder) {
  std::vector<std::string> found;
  for (const auto& item : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(item.path(), error).string();
    if (!error && target.rfind(folder.string() + "/", 0) == 0 && target.find("(deleted)") != std::string::npos) {
      found.push_back(item.path().string());
    }
  }
  return found;
}

std::size_t zstd_frames(const std::vector<std::uint8_t>& stream) {
  std::size_t frames = 0;
  for (std::size_t at = 0; at < stream.size(); ++frames) {
    const std::size_t size = ZSTD_findFrameCompressedSize(stream.data() + at, stream.size() - at);
    REQUIRE(ZSTD_isError(size) == 0U);
    at += size;
  }
  return frames;
}

std::vector<std::uint8_t> decrypted(const std::filesystem::path& file, const crypto::X25519Identity& identity) {
  const std::string age_file = test::read_file(file);
  crypto::age::Identities identities;
  identities.x25519.push_back(identity);
  crypto::age::DecryptResult result = crypto::age::decrypt(base::as_bytes(age_file), identities);
  REQUIRE_FALSE(result.failure);
  return std::move(result.plaintext);
}

std::shared_ptr<const spool::SpilledContent> spill_of(const std::filesystem::path& folder, const std::string& content) {
  spool::ContentSpill spill(&folder, spool::object_zstd_level);
  for (std::size_t at = 0; at < content.size(); at += 100'000) spill.write(std::string_view(content).substr(at, 100'000));
  return spill.finish();
}

spool::ObjectEntry spilled_entry(const std::shared_ptr<const spool::SpilledContent>& spilled, const std::string& content) {
  spool::ObjectEntry entry;
  entry.source = "dpc";
  entry.path = "202601/EFn_131234567_2601.txt";
  entry.size = content.size();
  entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(content)));
  entry.spilled = spilled;
  return entry;
}

std::string shell_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char block[65536];
  std::size_t got = 0;
  while ((got = std::fread(block, 1, sizeof block, pipe)) > 0) out.append(block, got);
  REQUIRE(::pclose(pipe) == 0);
  return out;
}

TEST_CASE("a spill has no name, holds no plaintext and reads back as one zstd frame", "[spool][spill]") {
  test::TempDir dir;
  const std::string content = text_rows(200'000);
  spool::ContentSpill spill(&dir.path(), spool::object_zstd_level);
  spill.write(std::string_view(content).substr(0, 1'000'000));
  spill.write(std::string_view(content).substr(1'000'000));
  CHECK(std::filesystem::is_empty(dir.path()));
  std::shared_ptr<const spool::SpilledContent> spilled = spill.finish();
  REQUIRE(spilled);
  CHECK(spilled->content_size() == content.size());
  CHECK(std::filesystem::is_empty(dir.path()));

  // What lies on the disk is age, to a key that is nowhere but in memory.
  const std::vector<std::string> open = unlinked_files_in(dir.path());
  REQUIRE(open.size() == 1);
  const std::string on_disk = test::read_file(open[0]);
  CHECK(on_disk.rfind("age-encryption.org/v1\n", 0) == 0);
  CHECK(on_disk.find("MARKER-ROW") == std::string::npos);
  CHECK(on_disk.size() < content.size() / 4);

  base::MemorySink frame;
  spilled->copy_frame_to(frame);
  CHECK(zstd_frames(frame.data) == 1);
  std::string back(content.size(), '\0');
  CHECK(ZSTD_decompress(back.data(), back.size(), frame.data.data(), frame.data.size()) == content.size());
  CHECK((back == content));

  spilled.reset();
  CHECK(unlinked_files_in(dir.path()).empty());
}

TEST_CASE("a spill that cannot be made is no spill: the builder reads the file again", "[spool][spill]") {
  test::TempDir dir;
  const std::filesystem::path missing = dir.path() / "no-such-folder";
  spool::ContentSpill spill(&missing, spool::object_zstd_level);
  spill.write("some bytes");
  CHECK_FALSE(spill.finish());
  spool::ContentSpill none(nullptr, spool::object_zstd_level);
  none.write("some bytes");
  CHECK_FALSE(none.finish());
}

TEST_CASE("the builder copies a spilled frame between its own, and every reader takes the stream", "[spool][spill]") {
  test::SpoolFixture fixture;
  const std::string content = text_rows(150'000);
  const std::string before = "MSH|^~\\&|before\r";
  const std::string after = "MSH|^~\\&|after\r";
  std::vector<spool::ObjectEntry> entries;
  test::write_file(fixture.dir / "a", before);
  test::write_file(fixture.dir / "b", after);
  entries.push_back(test::entry_for(fixture.dir / "a", "ssmix2", "a/before"));
  entries.push_back(spilled_entry(spill_of(fixture.spool_dir(), content), content));
  entries.push_back(test::entry_for(fixture.dir / "b", "ssmix2", "z/after"));
  const spool::BuildOutcome outcome = fixture.spool().build(entries);
  REQUIRE(outcome.committed());
  const std::filesystem::path object = fixture.spool_dir() / outcome.object->file_name;

  const std::vector<std::uint8_t> stream = decrypted(object, fixture.central);
  CHECK(zstd_frames(stream) == 3);  // manifest and headers | the spilled frame | the rest
  const test::ObjectContent read = test::read_tar_zstd(stream);
  CHECK(read.names == std::vector<std::string>{"MANIFEST.json", "ssmix2/a/before", "dpc/202601/EFn_131234567_2601.txt",
                                               "ssmix2/z/after"});
  CHECK((read.files.at("dpc/202601/EFn_131234567_2601.txt") == content));
  CHECK(read.files.at("ssmix2/z/after") == after);

  // The stock tools, as an operator at the central would use them.
  const std::filesystem::path plain = fixture.dir / "object.tar.zst";
  test::write_file(plain, std::string_view(reinterpret_cast<const char*>(stream.data()), stream.size()));
  const std::string extracted =
      shell_output("zstd -d -q -c '" + plain.string() + "' | tar -xOf - dpc/202601/EFn_131234567_2601.txt");
  CHECK((extracted == content));
}

TEST_CASE("a spill that was damaged or does not match its entry fails the object", "[spool][spill]") {
  test::SpoolFixture fixture;
  const std::string content = text_rows(50'000);

  SECTION("another size than the entry's") {
    spool::ObjectEntry entry = spilled_entry(spill_of(fixture.spool_dir(), content), content);
    entry.size += 1;
    CHECK(fixture.spool().build(std::vector{entry}).status == spool::BuildStatus::failed);
  }
  SECTION("a byte changed on the disk") {
    std::shared_ptr<const spool::SpilledContent> spilled = spill_of(fixture.spool_dir(), content);
    const std::vector<std::string> open = unlinked_files_in(fixture.spool_dir());
    REQUIRE(open.size() == 1);
    const int fd = ::open(open[0].c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const char flipped = 'x';
    REQUIRE(::pwrite(fd, &flipped, 1, 400) == 1);
    ::close(fd);
    CHECK(fixture.spool().build(std::vector{spilled_entry(spilled, content)}).status == spool::BuildStatus::failed);
  }
  // Nothing half-written is left behind, and the sequence did not move.
  for (const auto& item : std::filesystem::directory_iterator(fixture.spool_dir())) {
    CHECK(item.path().extension() != ".age");
  }
  CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == 0);
}

}  // namespace
}  // namespace medgw
