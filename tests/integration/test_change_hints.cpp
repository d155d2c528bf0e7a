// Change hints on a real inotify descriptor: a write, a move or a deletion
// under a watched root names the root's label; new folders are watched as
// they appear; nothing is reported after stop() or for an unwatched folder;
// paths never reach the log.
#include <tests/support/test_support.hpp>

#include <daemon/service/change_hints.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

namespace medgw {
namespace {

using namespace std::chrono_literals;

struct Hints {
  Hints() {
    std::filesystem::create_directories(std_root / "999" / "901");
    std::filesystem::create_directories(dpc_root);
    std::filesystem::create_directories(elsewhere);
    hints.emplace(io, test::capture_logger(capture, "hints"), [this](const std::string& label) { seen.insert(label); });
    hints->watch({{"ssmix2", std_root}, {"dpc", dpc_root}});
    settle();
  }

  // Runs the loop until `label` was hinted or `limit` passed.
  bool wait_for(const std::string& label, std::chrono::milliseconds limit = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!seen.contains(label) && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
    return seen.contains(label);
  }
  // Runs the loop a while (for watches to be added, events to arrive).
  void settle(std::chrono::milliseconds time = 200ms) {
    const auto deadline = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  }

  test::TempDir dir;
  std::filesystem::path std_root = dir / "ssmix2-std";
  std::filesystem::path dpc_root = dir / "dpc-exports";
  std::filesystem::path elsewhere = dir / "not-watched";
  boost::asio::io_context io;
  std::shared_ptr<test::LogCapture> capture = std::make_shared<test::LogCapture>();
  std::optional<daemon::ChangeHints> hints;
  std::set<std::string> seen;
};

}  // namespace

TEST_CASE("a file written under a watched root hints its label, and only its", "[hints]") {
  Hints h;
  CHECK(h.hints->watched() == 4);  // ssmix2-std, 999, 901, dpc-exports
  test::write_file(h.std_root / "999" / "901" / "new.hl7", "MSH|...");
  CHECK(h.wait_for("ssmix2"));
  CHECK_FALSE(h.seen.contains("dpc"));
  h.seen.clear();
  test::write_file(h.elsewhere / "x", "y");
  h.settle();
  CHECK(h.seen.empty());
}

TEST_CASE("moves and deletions hint too, and a new folder is watched with what it holds", "[hints]") {
  Hints h;
  test::write_file(h.dpc_root / "EF_2025.txt", "a");
  REQUIRE(h.wait_for("dpc"));
  h.seen.clear();
  std::filesystem::rename(h.dpc_root / "EF_2025.txt", h.dpc_root / "EF_2025_renamed.txt");
  CHECK(h.wait_for("dpc"));
  h.seen.clear();
  std::filesystem::remove(h.dpc_root / "EF_2025_renamed.txt");
  CHECK(h.wait_for("dpc"));

  // A new patient folder, then a file in it: the new folder is watched.
  h.seen.clear();
  std::filesystem::create_directories(h.std_root / "999" / "902" / "9999021");
  CHECK(h.wait_for("ssmix2"));
  h.settle();
  h.seen.clear();
  test::write_file(h.std_root / "999" / "902" / "9999021" / "f", "x");
  CHECK(h.wait_for("ssmix2"));
}

TEST_CASE("watch() replaces the watched roots, stop() ends the hints", "[hints]") {
  Hints h;
  h.hints->watch({{"other", h.elsewhere}});
  h.settle();
  CHECK(h.hints->watched() == 1);
  test::write_file(h.std_root / "999" / "a", "x");
  test::write_file(h.elsewhere / "b", "x");
  CHECK(h.wait_for("other"));
  h.settle();
  CHECK_FALSE(h.seen.contains("ssmix2"));
  h.hints->stop();
  h.seen.clear();
  test::write_file(h.elsewhere / "c", "x");
  h.settle();
  CHECK(h.seen.empty());
}

TEST_CASE("the hints never log a path", "[hints]") {
  Hints h;
  std::filesystem::create_directories(h.std_root / "999" / "901" / "9999013");
  test::write_file(h.std_root / "999" / "901" / "9999013" / "9999013_ADT", "x");
  REQUIRE(h.wait_for("ssmix2"));
  h.settle();
  CHECK(h.capture->contains("event=hints.watching"));
  CHECK_FALSE(h.capture->contains("9999013"));
  CHECK_FALSE(h.capture->contains(h.dir.path().string()));
}

}  // namespace medgw
