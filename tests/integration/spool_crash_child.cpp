// Child for the spool crash test: builds objects from the files in SOURCE_DIR
// forever, recording a stand-in "collector index" in the committing
// transaction, and prints "committed <seq> <object_id>" after each commit.
// The parent kills it with SIGKILL at random moments.
//
//   spool_crash_child STATE_DIR SOURCE_DIR RECIPIENT
#include <spool/spool.hpp>

#include <crypto/hash.hpp>
#include <crypto/signing.hpp>

#include <base/hex.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace medgw;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: spool_crash_child STATE_DIR SOURCE_DIR RECIPIENT\n";
    return 2;
  }
  const std::filesystem::path state_dir = argv[1];
  const std::filesystem::path source_dir = argv[2];
  auto core = std::make_shared<log::LogCore>(log::Level::warn);
  core->add_sink(std::make_shared<log::StderrSink>());
  const log::Logger logger(core, "crash-child");

  spool::StateDb state = spool::StateDb::open(state_dir, spool::StateDb::Access::read_write, logger, spool::spool_schema());
  state.db().exec("CREATE TABLE IF NOT EXISTS crash_index (path TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
  const crypto::SigningKey signer = crypto::SigningKey::load_or_create(state_dir / "signing.key");
  spool::Spool spool(state, state_dir / "spool", spool::SpoolLimits{1ULL << 40, 0},
                     spool::SpoolIdentity{"131234567", state.gateway_id(), {*crypto::parse_recipient(argv[3])}, &signer},
                     logger, {});
  (void)spool.recover();

  std::vector<std::filesystem::path> files;
  for (const auto& item : std::filesystem::directory_iterator(source_dir)) files.push_back(item.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> contents;
  std::vector<std::string> hashes;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    contents.push_back(text.str());
    hashes.push_back(base::to_hex(crypto::sha256(base::as_bytes(contents.back()))));
  }

  while (true) {
    const auto seq = static_cast<std::size_t>(state.db().query_int64("SELECT next_seq FROM gateway").value_or(1));
    std::vector<spool::ObjectEntry> entries;
    const std::size_t count = 1 + seq % 4;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t pick = (seq * 7 + i) % files.size();
      spool::ObjectEntry entry;
      entry.source = "crash";
      entry.path = "batch/" + std::to_string(seq) + "/" + files[pick].filename().string();
      entry.file = files[pick];
      entry.size = contents[pick].size();
      entry.sha256 = hashes[pick];
      entry.mtime_ns = 1'700'000'000'000'000'000;
      entries.push_back(std::move(entry));
    }
    const spool::BuildOutcome outcome = spool.build(entries, [&](base::Database& db, const spool::CommittedObject& object) {
      for (const auto& entry : entries) {
        db.prepare("INSERT INTO crash_index (path, seq) VALUES (?1, ?2)").bind_all(entry.path, object.seq).run();
      }
    });
    if (!outcome.committed()) {
      std::cerr << "build failed: " << outcome.message << "\n";
      return 1;
    }
    std::printf("committed %llu %s\n", static_cast<unsigned long long>(outcome.object->seq), outcome.object->object_id.c_str());
    std::fflush(stdout);
  }
}
