// Driver for bench/spool: builds spool objects from a folder the way the
// collectors will (files hashed first, as the change index does, then built
// into objects of about `--object-mib` of content each, or of
// `--files-per-object` files) and prints one line:
//   files=N objects=N content_bytes=N object_bytes=N seconds=S
// Only the build and commit are timed.
#include <collectors/migrations.hpp>

#include <spool/spool.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/hash.hpp>
#include <crypto/signing.hpp>

#include <base/hex.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace medgw;

namespace {

std::string hash_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  crypto::Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    hash.update(base::ByteView(reinterpret_cast<const std::uint8_t*>(buffer.data()), static_cast<std::size_t>(in.gcount())));
  }
  return base::to_hex(hash.finish());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: medgw-bench-spool SOURCE STATE_DIR RECIPIENT [--object-mib N | --files-per-object N]\n";
    return 2;
  }
  const std::filesystem::path source = argv[1];
  const std::filesystem::path state_dir = argv[2];
  std::uint64_t object_bytes = 8ULL << 20;
  std::size_t files_per_object = 0;  // 0: fill objects up to object_bytes
  if (argc == 6 && std::string(argv[4]) == "--object-mib") object_bytes = std::stoull(argv[5]) << 20;
  if (argc == 6 && std::string(argv[4]) == "--files-per-object") files_per_object = std::stoull(argv[5]);

  std::vector<spool::ObjectEntry> all;
  for (const auto& item : std::filesystem::recursive_directory_iterator(source)) {
    if (!item.is_regular_file()) continue;
    spool::ObjectEntry entry;
    entry.source = "bench";
    entry.path = std::filesystem::relative(item.path(), source).generic_string();
    entry.file = item.path();
    entry.size = item.file_size();
    entry.sha256 = hash_file(item.path());
    all.push_back(std::move(entry));
  }

  auto core = std::make_shared<log::LogCore>(log::Level::warn);
  core->add_sink(std::make_shared<log::StderrSink>());
  const log::Logger logger(core, "bench");
  spool::StateDb state = spool::StateDb::open(state_dir, spool::StateDb::Access::read_write, logger,
                                               spool::Schema{{spool::spool_component, spool::spool_migrations()},
                                                             {collectors::collectors_component, collectors::collectors_migrations()}});
  const crypto::SigningKey signer = crypto::SigningKey::load_or_create(state_dir / "signing.key");
  spool::Spool spool(state, state_dir / "spool", spool::SpoolLimits{1ULL << 50, 0},
                     spool::SpoolIdentity{"131234567", state.gateway_id(), {*crypto::parse_recipient(argv[3])}, &signer},
                     logger, {});

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t objects = 0;
  std::uint64_t content = 0;
  std::uint64_t written = 0;
  std::vector<spool::ObjectEntry> batch;
  std::uint64_t batch_bytes = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    const spool::BuildOutcome outcome = spool.build(batch);
    if (!outcome.committed()) {
      std::cerr << "build failed: " << outcome.message << "\n";
      std::exit(1);
    }
    ++objects;
    content += outcome.object->content_bytes;
    written += outcome.object->size;
    batch.clear();
    batch_bytes = 0;
  };
  for (auto& entry : all) {
    const bool full = files_per_object > 0 ? batch.size() == files_per_object : batch_bytes + entry.size > object_bytes;
    if (!batch.empty() && full) flush();
    batch_bytes += entry.size;
    batch.push_back(std::move(entry));
  }
  flush();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("files=%zu objects=%llu content_bytes=%llu object_bytes=%llu seconds=%.3f\n", all.size(),
              static_cast<unsigned long long>(objects), static_cast<unsigned long long>(content),
              static_cast<unsigned long long>(written), seconds);
  return 0;
}
