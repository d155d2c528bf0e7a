// The backup's content-defined chunker (daemon/backup/chunker.hpp): sizes
// within bounds, boundaries that stay put around an insertion, and a keyed
// gear table.
#include <daemon/backup/chunker.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

using medgw::backup::Chunker;
using medgw::backup::ChunkSizes;

namespace {

std::vector<std::uint8_t> pseudo_random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<std::uint8_t> data(size);
  for (auto& byte : data) byte = static_cast<std::uint8_t>(generator());
  return data;
}

// Cuts the whole buffer as the backup does: the chunker sees at most a
// window of 2 x max bytes (the reader's buffer).
std::vector<std::size_t> cut_points(const Chunker& chunker, const std::vector<std::uint8_t>& data) {
  std::vector<std::size_t> points;
  std::size_t at = 0;
  while (at < data.size()) {
    const std::size_t window = std::min(data.size() - at, 2 * chunker.sizes().max);
    const std::size_t cut = chunker.next_cut(medgw::base::ByteView(data.data() + at, window));
    REQUIRE(cut > 0);
    at += cut;
    points.push_back(at);
  }
  return points;
}

std::set<std::string> chunk_contents(const std::vector<std::uint8_t>& data, const std::vector<std::size_t>& points) {
  std::set<std::string> chunks;
  std::size_t start = 0;
  for (std::size_t end : points) {
    chunks.emplace(reinterpret_cast<const char*>(data.data() + start), end - start);
    start = end;
  }
  return chunks;
}

const std::string key = "a repository secret of 32 bytes!";

}  // namespace

TEST_CASE("chunks stay between min and max and average about 1 MiB", "[backup][chunker]") {
  const Chunker chunker(medgw::base::as_bytes(key));
  const auto data = pseudo_random_bytes(48 << 20, 1);
  const auto points = cut_points(chunker, data);
  std::size_t start = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::size_t size = points[i] - start;
    if (i + 1 < points.size()) {  // the last chunk is what is left
      CHECK(size >= chunker.sizes().min);
    }
    CHECK(size <= chunker.sizes().max);
    start = points[i];
  }
  const double average = static_cast<double>(data.size()) / static_cast<double>(points.size());
  INFO("chunks: " << points.size() << ", average " << average);
  CHECK(average > 0.6 * (1 << 20));
  CHECK(average < 1.8 * (1 << 20));
}

TEST_CASE("an insertion moves only the boundaries next to it", "[backup][chunker]") {
  const Chunker chunker(medgw::base::as_bytes(key));
  const auto original = pseudo_random_bytes(24 << 20, 2);
  auto changed = original;
  const std::size_t insert_at = 10 << 20;
  const auto inserted = pseudo_random_bytes(1000, 3);
  changed.insert(changed.begin() + static_cast<std::ptrdiff_t>(insert_at), inserted.begin(), inserted.end());

  const auto before = cut_points(chunker, original);
  const auto after = cut_points(chunker, changed);
  // Every boundary before the insertion is where it was.
  for (std::size_t point : before) {
    if (point >= insert_at) break;
    CHECK(std::find(after.begin(), after.end(), point) != after.end());
  }
  // After it, the boundaries are found again shifted by the insertion: all
  // but the one or two chunks around the change are the same content.
  const auto old_chunks = chunk_contents(original, before);
  const auto new_chunks = chunk_contents(changed, after);
  std::size_t shared = 0;
  for (const auto& chunk : new_chunks) shared += old_chunks.count(chunk);
  INFO("chunks before " << old_chunks.size() << ", after " << new_chunks.size() << ", shared " << shared);
  CHECK(shared + 2 >= old_chunks.size());
  CHECK(shared + 2 >= new_chunks.size());
}

TEST_CASE("the same data cut with two keys has different boundaries", "[backup][chunker]") {
  const auto data = pseudo_random_bytes(16 << 20, 4);
  const auto one = cut_points(Chunker(medgw::base::as_bytes(key)), data);
  const auto other = cut_points(Chunker(medgw::base::as_bytes(std::string("another repository's secret....."))), data);
  CHECK(one != other);
  // And one key always cuts the same way.
  CHECK(one == cut_points(Chunker(medgw::base::as_bytes(key)), data));
}

TEST_CASE("a short tail or a small buffer is one chunk", "[backup][chunker]") {
  const Chunker chunker(medgw::base::as_bytes(key));
  const auto data = pseudo_random_bytes(100'000, 5);
  CHECK(chunker.next_cut(data) == data.size());
  CHECK(chunker.next_cut(medgw::base::ByteView()) == 0);
}

TEST_CASE("chunk sizes that do not make sense are refused", "[backup][chunker]") {
  CHECK_THROWS(Chunker(medgw::base::as_bytes(key), ChunkSizes{1024, 1000, 4096}));
  CHECK_THROWS(Chunker(medgw::base::as_bytes(key), ChunkSizes{2048, 1024, 4096}));
}
