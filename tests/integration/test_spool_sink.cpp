// The sink writes a batch's object on another thread while the feed collects
// the next batch (a real spool, a real state.db, objects opened as the central
// does). What the feed noted about a batch commits in the transaction that
// records the object holding it, on the feed's thread, in order, with
// gap-free seqs; a batch given up (a pause, an error) leaves neither a row
// nor a file, and its notes are never committed.
#include <tests/integration/spool_fixture.hpp>
#include <tests/support/object_reader.hpp>

#include <collectors/collection_pass.hpp>
#include <collectors/spool_sink.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <thread>

namespace medgw {
namespace {

using collectors::PassSummary;
using collectors::SinkJournal;
using collectors::SpoolSink;

// What each commit recorded: the object's seq, the notes of its batch, and
// whether it ran on the feed's thread (state.db has one owner).
struct Committed {
  std::int64_t seq = 0;
  std::vector<int> notes;
  bool on_feed_thread = false;
};

class NoteJournal final : public SinkJournal {
 public:
  explicit NoteJournal(std::vector<Committed>& committed) : committed_(committed) {}
  void note(int id) { pending_.push_back(id); }
  void commit(base::Database&, std::int64_t object_seq) override {
    record(committed_, object_seq, std::move(pending_));
    pending_.clear();
  }
  void discard() override { pending_.clear(); }
  [[nodiscard]] bool empty() const override { return pending_.empty(); }
  [[nodiscard]] std::unique_ptr<Records> take() override {
    auto taken = std::make_unique<Taken>(committed_, std::move(pending_));
    pending_.clear();
    return taken;
  }

 private:
  static void record(std::vector<Committed>& committed, std::int64_t seq, std::vector<int> notes) {
    committed.push_back({seq, std::move(notes), std::this_thread::get_id() == feed_thread});
  }
  class Taken final : public Records {
   public:
    Taken(std::vector<Committed>& committed, std::vector<int> notes) : committed_(committed), notes_(std::move(notes)) {}
    void commit(base::Database&, std::int64_t object_seq) override { record(committed_, object_seq, std::move(notes_)); }

   private:
    std::vector<Committed>& committed_;
    std::vector<int> notes_;
  };

  static inline const std::thread::id feed_thread = std::this_thread::get_id();
  std::vector<Committed>& committed_;
  std::vector<int> pending_;
};

struct SinkFixture : test::SpoolFixture {
  explicit SinkFixture(spool::SpoolLimits limits = {1ULL << 40, 0}) : SpoolFixture(limits) {}

  std::unique_ptr<SpoolSink> sink() {
    collectors::SinkLimits limits;
    limits.object_target = 4096;
    limits.in_memory_limit = 4096;
    return std::make_unique<SpoolSink>(state(), spool(), "toy", limits, nullptr, journal, summary, tagger,
                                       capture_logger(capture, "collect"));
  }

  // Feeds file `id` (1500 random bytes: two files to an object) as the tree feed does.
  void feed(SpoolSink& sink, int id) {
    std::string content(1500, '\0');
    for (char& c : content) c = static_cast<char>(random());
    contents.push_back(content);
    sink.make_room(content.size());
    spool::ObjectEntry entry;
    entry.source = "toy";
    entry.path = "file-" + std::to_string(id);
    entry.size = content.size();
    entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(content)));
    journal.note(id);
    sink.add(collectors::SinkItem{std::move(entry), 0, {}}, content);
  }

  std::int64_t rows() { return db().query_int64("SELECT count(*) FROM objects").value_or(-1); }
  std::size_t files_in_spool() {
    std::size_t files = 0;
    for (const auto& item : std::filesystem::directory_iterator(spool_dir())) files += item.path().extension() == ".age";
    return files;
  }

  std::vector<Committed> committed;
  NoteJournal journal{committed};
  PassSummary summary;
  crypto::PatientTagger tagger{base::SecureBytes(32, 7)};
  std::mt19937 random{11};
  std::vector<std::string> contents;
};

TEST_CASE("objects written beside the feed commit in order, each with the notes of its own batch", "[collect][sink]") {
  SinkFixture f;
  constexpr int files = 61;
  {
    auto sink = f.sink();
    for (int id = 0; id < files; ++id) f.feed(*sink, id);
    sink->flush();
    // Everything added is recorded once flush() returns.
    CHECK(f.rows() == static_cast<std::int64_t>(f.committed.size()));
  }
  REQUIRE(f.committed.size() == 31);
  CHECK(f.summary.objects == 31);
  CHECK(f.summary.added == files);
  int next = 0;
  for (std::size_t i = 0; i < f.committed.size(); ++i) {
    const Committed& commit = f.committed[i];
    CHECK(commit.seq == static_cast<std::int64_t>(i) + 1);  // gap-free, in order
    CHECK(commit.on_feed_thread);
    base::Statement query = f.db().prepare("SELECT file_name FROM objects WHERE seq = ?1");
    query.bind_all(commit.seq);
    REQUIRE(query.step());
    const test::ObjectContent object = test::read_object(f.spool_dir() / query.column_text(0), f.central);
    // The object holds exactly the files noted with it, with their bytes.
    REQUIRE(object.files.size() == commit.notes.size() + 1);  // and the manifest
    for (const int id : commit.notes) {
      CHECK(id == next++);
      CHECK(object.files.at("toy/file-" + std::to_string(id)) == f.contents[static_cast<std::size_t>(id)]);
    }
  }
  CHECK(next == files);
}

TEST_CASE("a sink given up with an object in flight leaves no file and no row", "[collect][sink]") {
  SinkFixture f;
  {
    auto sink = f.sink();
    // The third file does not fit the first batch: that batch's object is
    // being written when the sink goes (a feed that threw, say).
    for (int id = 0; id < 3; ++id) f.feed(*sink, id);
  }
  CHECK(f.committed.empty());
  CHECK(f.rows() == 0);
  CHECK(f.files_in_spool() == 0);
  CHECK(f.db().query_int64("SELECT next_seq FROM gateway").value_or(0) == 1);
}

TEST_CASE("a pause while an object is in flight records that object and drops the next batch", "[collect][sink]") {
  // Room for one object of two random 1500-byte files (the spool reserves
  // 64 KiB of headroom per object it plans), not for a second.
  SinkFixture f({72'000, 0});
  auto sink = f.sink();
  f.feed(*sink, 0);
  f.feed(*sink, 1);
  f.feed(*sink, 2);  // the first batch goes to be written
  f.feed(*sink, 3);
  CHECK_THROWS_AS(f.feed(*sink, 4), collectors::SinkPaused);  // the second batch is refused
  CHECK(f.summary.paused);
  REQUIRE(f.committed.size() == 1);
  CHECK(f.committed[0].seq == 1);
  CHECK(f.committed[0].notes == std::vector<int>{0, 1});
  sink.reset();
  CHECK(f.rows() == 1);
  CHECK(f.files_in_spool() == 1);
  CHECK(f.committed.size() == 1);  // the refused batch's notes never commit
}

}  // namespace
}  // namespace medgw
