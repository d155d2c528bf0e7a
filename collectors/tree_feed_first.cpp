// The tree feed: the first pass of a source. With nothing indexed there is
// nothing to compare with, nothing renamed and nothing gone, so the walk feeds
// the changes phase directly (in path order, a page at a time) from its own
// thread instead of staging every path in the scan tables first.
#include <collectors/tree_feed.hpp>

#include <collectors/file_read.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace medgw::collectors {
namespace {

constexpr std::size_t first_pass_page = 512;
constexpr std::size_t queued_pages = 4;
// Files the walk reads ahead of their turn: their bytes in memory, and large
// files (each compressed into a spill on disk as it is read) at once.
constexpr std::uint64_t walk_read_bytes = 32ULL << 20;
constexpr std::size_t walk_read_large_files = 4;
constexpr std::size_t walk_read_split_budget = 16 << 20;

struct WalkCancelled {};

// Pages from the walking thread to the collecting one, bounded.
class PageQueue {
 public:
  // False when the consumer gave up (the walk should stop).
  bool push(std::vector<ScanRow> page) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return pages_.size() < queued_pages || cancelled_; });
    if (cancelled_) return false;
    pages_.push_back(std::move(page));
    changed_.notify_all();
    return true;
  }
  void finish(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    done_ = true;
    error_ = std::move(error);
    changed_.notify_all();
  }
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }
  // An empty page when the walk is over; rethrows what stopped the walk.
  std::vector<ScanRow> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !pages_.empty() || done_; });
    if (pages_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return {};
    }
    std::vector<ScanRow> page = std::move(pages_.front());
    pages_.pop_front();
    changed_.notify_all();
    return page;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<ScanRow>> pages_;
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace

void TreeFeed::scan_and_process_first(SpoolSink& sink) {
  std::error_code ec;
  if (!std::filesystem::is_directory(settings_.root, ec)) {
    throw CollectionError("source " + settings_.source + ": " + settings_.root.string() +
                          " is not a folder (is the share mounted?)");
  }
  PageQueue queue;
  WalkCounters counters;
  // The walk's threads read each file where they hold its folder open, so
  // the kernel looks its name up once (a file's open through its full path
  // from the root was most of a first collection's kernel time) - unless it
  // may not be read now: an excluded patient's file (opted out, before the
  // window, notice pending: a later record() can only end a notice period,
  // so what is read here is never excluded when its turn comes), or one not
  // settled. Every decision is still taken in path order by process_changes.
  const std::shared_ptr<const PatientPolicy> policy = sink.shared_policy();
  const auto budget = std::make_shared<ReadAheadBudget>(walk_read_bytes, walk_read_large_files);
  const TreeWalker::Open read_file = [&](int fd, std::string_view path, const FileStat& stat) -> std::unique_ptr<FileWork> {
    if (profile_.exclusion(path, *policy) != Exclusion::none || !settled(stat.mtime_ns, stat.ctime_ns)) return nullptr;
    const bool large = stat.size > settings_.in_memory_limit;
    if (!budget->take(stat.size, large)) return nullptr;
    auto prepared = std::make_unique<PreparedRead>(budget, stat.size, large);
    prepared->read = read_and_analyze_open(profile_, fd, ScanRow{std::string(path), stat, false, nullptr},
                                           settings_.in_memory_limit, policy, sink.spill_folder());
    return prepared;
  };
  std::thread walker_thread([&] {
    std::exception_ptr error;
    try {
      std::vector<ScanRow> page;
      page.reserve(first_pass_page);
      TreeWalker walker;
      counters = walker.walk_open(
          settings_.root, read_file,
          [&](std::string_view path, const FileStat& stat, std::unique_ptr<FileWork> work) {
            page.push_back(ScanRow{std::string(path), stat, false, std::move(work)});
            if (page.size() < first_pass_page) return;
            if (!queue.push(std::move(page))) throw WalkCancelled{};
            page = {};
            page.reserve(first_pass_page);
          },
          [&](WalkProblem problem, std::string_view) {
            if (problem == WalkProblem::unreadable_directory || problem == WalkProblem::unreadable_file) {
              logger_.warn("collect.unreadable", "cannot read part of the source; it is skipped and counted",
                           {{"source", settings_.source}, {"what", walk_problem_name(problem)}});
            }
          },
          walk_helpers, walk_read_split_budget);
      if (!page.empty()) queue.push(std::move(page));
    } catch (const WalkCancelled&) {
    } catch (...) {
      error = std::current_exception();
    }
    queue.finish(error);
  });
  try {
    process_changes(sink, [&] {
      std::vector<ScanRow> page = queue.pop();
      summary_->files_seen += page.size();  // every file of a first pass goes through here
      return page;
    });
  } catch (...) {
    queue.cancel();
    walker_thread.join();
    throw;
  }
  queue.cancel();  // a pause leaves the walk unfinished: stop it
  walker_thread.join();
  summary_->walk = counters;
}

}  // namespace medgw::collectors
