#include <fhir/fetch_feed.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>
#include <base/sqlite.hpp>

#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::fhir {
namespace {

namespace fs = std::filesystem;
using base::fail;

void make_private_folder(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw std::runtime_error("cannot create " + folder.string() + ": " + ec.message());
  fs::permissions(folder, fs::perms::owner_all, ec);
}

std::string random_name() {
  std::vector<std::uint8_t> random(8);
  crypto::random_bytes(random);
  return base::to_hex(random);
}

base::Status sync_fd(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) return fail("fhir_staging", "cannot make " + path.string() + " durable: " + std::strerror(errno));
  return {};
}

// Makes `target`'s parent folders (0700) and syncs each one created, and the parent.
void make_parents(const fs::path& root, const fs::path& target) {
  fs::path folder = root;
  for (const fs::path& part : target.parent_path().lexically_relative(root)) {
    if (part == ".") continue;
    folder /= part;
    if (!fs::exists(folder)) {
      make_private_folder(folder);
      base::sync_directory(folder.parent_path());
    }
  }
}

}  // namespace

FetchStaging::FetchStaging(fs::path folder) : root_(folder / "fetched"), partial_(folder / "partial") {
  make_private_folder(folder);
  make_private_folder(root_);
  make_private_folder(partial_);
}

base::Status FetchStaging::Part::append(std::string_view line) {
  std::string text(line);
  text.push_back('\n');
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t wrote = ::write(fd_.get(), rest.data(), rest.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return fail("fhir_staging", "cannot write " + path_.string() + ": " + std::strerror(errno));
    rest.remove_prefix(static_cast<std::size_t>(wrote));
  }
  ++lines_;
  bytes_ += text.size();
  return {};
}

base::Result<FetchStaging::Part> FetchStaging::open_part(const std::string& folder) {
  fs::path where = partial_;
  if (!folder.empty()) {
    where /= folder;
    try {
      make_private_folder(where);
    } catch (const std::exception& error) {
      return fail("fhir_staging", error.what());
    }
  }
  const fs::path path = where / (random_name() + ".part");
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail("fhir_staging", "cannot create " + path.string() + ": " + std::strerror(errno));
  return Part(std::move(fd), path);
}

base::Status FetchStaging::publish(Part& part, const std::string& relative) {
  if (auto synced = sync_fd(part.fd(), part.path()); !synced) return synced;
  part.take_fd().reset();
  const fs::path target = root_ / relative;
  try {
    make_parents(root_, target);
  } catch (const std::exception& error) {
    return fail("fhir_staging", error.what());
  }
  if (::rename(part.path().c_str(), target.c_str()) != 0) {
    return fail("fhir_staging", "cannot move a fetched file into " + target.parent_path().string() + ": " + std::strerror(errno));
  }
  base::sync_directory(target.parent_path());
  return {};
}

base::Status FetchStaging::publish_folder(const std::string& folder, const std::string& relative) {
  const fs::path from = partial_ / folder;
  const fs::path target = root_ / relative;
  std::error_code ec;
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    base::UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail("fhir_staging", "cannot open " + it->path().string() + ": " + std::strerror(errno));
    if (auto synced = sync_fd(fd.get(), it->path()); !synced) return synced;
  }
  try {
    base::sync_directory(from);
    make_parents(root_, target);
  } catch (const std::exception& error) {
    return fail("fhir_staging", error.what());
  }
  if (::rename(from.c_str(), target.c_str()) != 0) {
    return fail("fhir_staging", "cannot move fetched files into " + target.parent_path().string() + ": " + std::strerror(errno));
  }
  base::sync_directory(target.parent_path());
  return {};
}

void FetchStaging::clear_partial() {
  std::error_code ec;
  for (fs::directory_iterator it(partial_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code remove_ec;
    fs::remove_all(it->path(), remove_ec);
  }
}

std::size_t FetchStaging::clean(base::Database& db, const std::string& source) {
  base::Statement indexed = db.prepare("SELECT size, mtime_ns FROM file_index WHERE source = ?1 AND path = ?2");
  base::Statement held =
      db.prepare("SELECT EXISTS (SELECT 1 FROM notice_held_rows WHERE source = ?1 AND path = ?2)");
  std::size_t removed = 0;
  std::vector<fs::path> folders;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      folders.push_back(it->path());
      continue;
    }
    struct stat info {};
    if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    const std::string relative = it->path().lexically_relative(root_).string();
    indexed.bind_all(source, base::as_bytes(relative));
    const std::int64_t mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    const bool sent = indexed.step() && indexed.column_int64(0) == static_cast<std::int64_t>(info.st_size) &&
                      indexed.column_int64(1) == mtime_ns;
    indexed.reset();
    if (!sent) continue;
    held.bind_all(source, base::as_bytes(relative));
    const bool waiting = held.step() && held.column_int64(0) != 0;
    held.reset();
    if (!waiting && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  // Deepest first: a folder emptied by its children's removal goes too.
  for (auto folder = folders.rbegin(); folder != folders.rend(); ++folder) ::rmdir(folder->c_str());
  return removed;
}

std::uint64_t FetchStaging::usage() const {
  std::uint64_t total = 0;
  for (const fs::path& folder : {root_, partial_}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code size_ec;
      if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
    }
  }
  return total;
}

collectors::CollectorSettings FetchFeed::staging_settings(collectors::CollectorSettings settings,
                                                          const FetchStaging& staging) {
  settings.root = staging.root();
  settings.settle = std::chrono::milliseconds(0);  // files appear whole (renamed in)
  settings.forget_gone = true;
  return settings;
}

FetchFeed::FetchFeed(spool::StateDb& state, std::shared_ptr<const collectors::SourceProfile> profile,
                     collectors::CollectorSettings settings, log::Logger logger, spool::Clock clock,
                     collectors::TreeFeed::Progress progress, std::shared_ptr<FetchStaging> staging,
                     std::shared_ptr<Fetcher> fetcher, std::function<std::uint64_t()> room)
    : state_(state),
      profile_(std::move(profile)),
      source_(settings.source),
      logger_(std::move(logger)),
      staging_(std::move(staging)),
      fetcher_(std::move(fetcher)),
      room_(room ? std::move(room) : [] { return std::numeric_limits<std::uint64_t>::max(); }),
      progress_(progress),
      tree_(state, *profile_, staging_settings(std::move(settings), *staging_), logger_, clock, std::move(progress)) {}

void FetchFeed::collect(collectors::SpoolSink& sink, collectors::PassSummary& summary) {
  staging_->clear_partial();
  if (const std::size_t removed = staging_->clean(state_.db(), source_); removed > 0) {
    logger_.debug("fhir.staging_cleaned", "fetched files already sent were removed from staging",
                  {{"source", source_}, {"files", static_cast<std::uint64_t>(removed)}});
  }
  const FetchContext context{state_.db(), *staging_, room_, [&] {
                               if (progress_) progress_(summary);
                             }};
  const FetchOutcome outcome = fetcher_->fetch(context);
  if (outcome.files > 0 || outcome.error || outcome.stopped_for_room || !outcome.waiting.empty()) {
    std::string line = outcome.stopped_for_room ? "the server was read up to where the spool is full"
                       : !outcome.waiting.empty() ? outcome.waiting
                                                  : "what is new at the FHIR server was staged";
    logger_.info("fhir.fetched", line,
                 {{"source", source_}, {"resources", outcome.resources}, {"files", outcome.files},
                  {"bytes", outcome.bytes}});
  }
  tree_.collect(sink, summary);
  // What was staged is spooled even when the server could not be read to the end.
  if (outcome.error) throw collectors::CollectionError("source " + source_ + ": " + outcome.error->message);
}

}  // namespace medgw::fhir
