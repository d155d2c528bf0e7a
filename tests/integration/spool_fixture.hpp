#pragma once
// A spool on real files and a real state.db, with a settable clock.
#include <tests/support/test_support.hpp>

#include <collectors/migrations.hpp>

#include <spool/spool.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/hash.hpp>
#include <crypto/signing.hpp>

#include <base/hex.hpp>

#include <sys/stat.h>

namespace medgw::test {

inline spool::ObjectEntry entry_for(const std::filesystem::path& file, std::string source, std::string relative,
                                    spool::Change change = spool::Change::add) {
  spool::ObjectEntry entry;
  entry.source = std::move(source);
  entry.path = std::move(relative);
  entry.change = change;
  entry.file = file;
  const std::string content = read_file(file);
  entry.size = content.size();
  entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(content)));
  struct stat info {};
  ::stat(file.c_str(), &info);
  entry.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  return entry;
}

// state.db with the tables of the spool and of the collectors.
inline const spool::Schema& schema() {
  static const spool::Schema both{{spool::spool_component, spool::spool_migrations()},
                                  {collectors::collectors_component, collectors::collectors_migrations()}};
  return both;
}

struct SpoolFixture {
  explicit SpoolFixture(spool::SpoolLimits limits = {1ULL << 40, 0}) : limits_(limits) { open(); }

  void open() {
    spool_.reset();
    state_.reset();
    state_.emplace(spool::StateDb::open(dir / "state", spool::StateDb::Access::read_write, logger, schema()));
    spool_.emplace(*state_, dir / "state" / "spool", limits_,
                   spool::SpoolIdentity{"131234567", state_->gateway_id(), {central.public_key}, &signer}, logger,
                   [this] { return now; });
  }
  void close() {
    spool_.reset();
    state_.reset();
  }

  void set_limits(spool::SpoolLimits limits) {
    limits_ = limits;
    open();
  }

  spool::StateDb& state() { return *state_; }
  spool::Spool& spool() { return *spool_; }
  base::Database& db() { return state_->db(); }
  std::filesystem::path spool_dir() const { return dir / "state" / "spool"; }

  TempDir dir;
  std::shared_ptr<LogCapture> capture = std::make_shared<LogCapture>();
  log::Logger logger = capture_logger(capture, "spool");
  crypto::X25519Identity central = crypto::generate_identity();
  crypto::SigningKey signer = crypto::SigningKey::generate();
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();

 private:
  spool::SpoolLimits limits_;
  std::optional<spool::StateDb> state_;
  std::optional<spool::Spool> spool_;
};

}  // namespace medgw::test
