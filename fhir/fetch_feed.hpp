#pragma once
// What the `fhir` source's REST and Bulk Data modes fetch, and how it is
// spooled. A fetcher (rest_poller.hpp, bulk_export.hpp) downloads what is new
// at the server as NDJSON files into the source's staging area,
// state_dir/fhir/<source>/fetched/ (written in .../partial/, fsynced, then
// renamed in), and records how far it got (its watermark) in state.db after
// the files are in place: a crash in between fetches some resources again,
// never loses one.
//
// The staging area is then read like a files-mode folder (a TreeFeed with
// the same FHIR profile: checks, manifest meta, the patient directory, the
// filter that leaves out opted-out and waiting patients), with one
// difference: a file sent and not needed any more (no rows held for a
// patient's notice period) is removed from staging at the next pass and
// merely forgotten, never sent as a deletion (CollectorSettings::forget_gone).
// A file held whole (its patients not identifiable yet) stays until it can go.
#include <collectors/collection_pass.hpp>
#include <collectors/source_profile.hpp>
#include <collectors/tree_feed.hpp>

#include <spool/state_db.hpp>

#include <base/log.hpp>
#include <base/result.hpp>
#include <base/unique_fd.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace medgw::fhir {

class FetchStaging {
 public:
  // `folder`: state_dir/fhir/<source>; files go to folder/fetched, parts are
  // written in folder/partial (same filesystem), both 0700.
  explicit FetchStaging(std::filesystem::path folder);

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  [[nodiscard]] const std::filesystem::path& partial() const noexcept { return partial_; }

  // An NDJSON file being written.
  class Part {
   public:
    Part(base::UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
    [[nodiscard]] base::Status append(std::string_view line);  // adds the newline
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    [[nodiscard]] std::uint64_t lines() const noexcept { return lines_; }
    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    void note_bytes(std::uint64_t bytes) noexcept { bytes_ += bytes; }  // written through fd() directly
    base::UniqueFd take_fd() { return std::move(fd_); }

   private:
    base::UniqueFd fd_;
    std::filesystem::path path_;
    std::uint64_t lines_ = 0;
    std::uint64_t bytes_ = 0;
  };
  // A new part in `partial/`, or in `partial/<folder>/` when given.
  [[nodiscard]] base::Result<Part> open_part(const std::string& folder = {});
  // fsync, rename to root/<relative> (folders made), sync the folders.
  [[nodiscard]] base::Status publish(Part& part, const std::string& relative);
  // A whole folder of parts (partial/<folder>) moved to root/<relative> at once.
  [[nodiscard]] base::Status publish_folder(const std::string& folder, const std::string& relative);
  // Removes what a crash left in partial/ (never sent, fetched again).
  void clear_partial();
  // Removes the staged files the file index of `source` records as sent
  // (same size and mtime) that hold no rows waiting for a notice period,
  // and folders left empty. Returns the number removed.
  std::size_t clean(base::Database& db, const std::string& source);
  // Bytes staged (for the spool's limits).
  [[nodiscard]] std::uint64_t usage() const;

 private:
  std::filesystem::path root_;
  std::filesystem::path partial_;
};

struct FetchOutcome {
  std::uint64_t resources = 0;  // new or changed resources staged
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  bool stopped_for_room = false;  // the spool or disk was full: the rest waits
  std::string waiting;            // e.g. "the export is still running": not an error
  std::optional<base::Error> error;
};

// What a fetcher may use while it fetches.
struct FetchContext {
  base::Database& db;
  FetchStaging& staging;
  // Bytes that may still be staged (spool.max_bytes less what the spool and
  // staging hold, and the disk's room above spool.min_free); 0: none.
  std::function<std::uint64_t()> room;
  // Called between requests: throws when the service is stopping.
  std::function<void()> checkpoint;
};

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // Stages what is new at the server while there is room.
  [[nodiscard]] virtual FetchOutcome fetch(const FetchContext& context) = 0;
};

class FetchFeed final : public collectors::ChangeFeed {
 public:
  // `settings`: the pass's (root and forget_gone are set here).
  FetchFeed(spool::StateDb& state, std::shared_ptr<const collectors::SourceProfile> profile,
            collectors::CollectorSettings settings, log::Logger logger, spool::Clock clock,
            collectors::TreeFeed::Progress progress, std::shared_ptr<FetchStaging> staging,
            std::shared_ptr<Fetcher> fetcher, std::function<std::uint64_t()> room);

  void collect(collectors::SpoolSink& sink, collectors::PassSummary& summary) override;
  [[nodiscard]] collectors::SinkJournal& journal() override { return tree_.journal(); }

 private:
  static collectors::CollectorSettings staging_settings(collectors::CollectorSettings settings,
                                                        const FetchStaging& staging);
  spool::StateDb& state_;
  std::shared_ptr<const collectors::SourceProfile> profile_;
  std::string source_;
  log::Logger logger_;
  std::shared_ptr<FetchStaging> staging_;
  std::shared_ptr<Fetcher> fetcher_;
  std::function<std::uint64_t()> room_;
  collectors::TreeFeed::Progress progress_;
  collectors::TreeFeed tree_;
};

}  // namespace medgw::fhir
