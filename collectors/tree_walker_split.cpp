// The split walk (TreeWalker::walk_split): a folder with at least
// Listing::split_min_folders folders in it (the first such on each path:
// SS-MIX2's storage may hold a single `000` under its root) is walked by
// helper threads while the caller reports, in the same order as one thread.
//
// The caller plans: it goes through the folder in walk order, and down into
// each of its folders that is split-worthy itself, and cuts the rest into
// units - a folder that a helper walks whole, or the files and problems the
// caller met on the way. In SS-MIX2's storage (split at the first level of
// ID folders, or at the second) the units are patient folders of a few dozen
// files, so the helpers always work near the item being reported and little
// is held ahead: at most `window` units are planned, and the buffers of the
// units ahead of the one being reported hold at most split_budget_ bytes
// together (their helpers wait), that one's a quarter of it (the caller
// drains it). walk_open's work counts (a first collection's file contents),
// so memory stays bounded whatever the tree's shape.
#include <collectors/tree_walker.hpp>
#include <collectors/tree_walker_listing.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace medgw::collectors {
namespace {

// One file or problem; its path is in the buffer's `paths`.
struct WalkEvent {
  std::uint32_t path_offset = 0;
  std::uint32_t path_length = 0;
  bool is_file = true;
  WalkProblem problem = WalkProblem::vanished;
  FileStat stat;
  std::unique_ptr<FileWork> work;
};

// Events with their paths in one string: no allocation per event.
struct EventBuffer {
  std::vector<WalkEvent> events;
  std::string paths;
  std::size_t work_bytes = 0;

  void add(bool is_file, WalkProblem problem, std::string_view path, const FileStat& stat,
           std::unique_ptr<FileWork> work = nullptr) {
    if (work) work_bytes += work->bytes();
    events.push_back(WalkEvent{static_cast<std::uint32_t>(paths.size()), static_cast<std::uint32_t>(path.size()),
                               is_file, problem, stat, std::move(work)});
    paths.append(path);
  }
  [[nodiscard]] std::string_view path(const WalkEvent& event) const {
    return std::string_view(paths).substr(event.path_offset, event.path_length);
  }
  [[nodiscard]] std::size_t bytes() const { return events.size() * sizeof(WalkEvent) + paths.size() + work_bytes; }
};

struct SplitCancelled {};

// Units planned ahead of the one reported, per helper; each planned folder
// holds a descriptor.
constexpr std::size_t split_window_per_helper = 64;
constexpr std::size_t event_batch = 256;
// A caller that had to wait for the unit it reports waits for this many.
constexpr std::size_t reporter_wake_units = 16;

void add_counters(WalkCounters& into, const WalkCounters& more) {
  into.files += more.files;
  into.directories += more.directories;
  into.symlinks_skipped += more.symlinks_skipped;
  into.special_skipped += more.special_skipped;
  into.unreadable += more.unreadable;
  into.vanished += more.vanished;
}

void report(std::vector<EventBuffer>& batches, const TreeWalker::VisitWork& visit, const TreeWalker::Problem& problem) {
  for (EventBuffer& batch : batches) {
    for (WalkEvent& event : batch.events) {
      if (event.is_file) {
        visit(batch.path(event), event.stat, std::move(event.work));
      } else {
        problem(event.problem, batch.path(event));
      }
    }
  }
}

}  // namespace

// One unit of the split walk, in walk order: a folder a helper walks whole
// (open; its listing read when the planner looked into it), or what the
// planner met itself.
struct TreeWalker::Unit {
  std::string path;
  base::UniqueFd folder;  // closed: nothing for a helper
  std::unique_ptr<Listing> listing;  // null: the helper reads it
  std::size_t depth = 0;
  std::vector<EventBuffer> batches;  // handed over whole: nothing is copied or regrown
  std::size_t pending = 0;           // their bytes
  bool done = false;
  WalkCounters counters;
  std::exception_ptr error;
};

class TreeWalker::Split {
 public:
  Split(TreeWalker& caller, int fd, std::size_t depth, const Listing& list, const VisitWork& visit,
        const Problem& problem)
      : caller_(caller),
        visit_(visit),
        problem_(problem),
        budget_(caller.split_budget_),
        helpers_(caller.split_helpers_),
        window_(caller.split_helpers_ * split_window_per_helper) {
    frames_.push_back(Frame{fd, {}, &list, {}, caller.path_, depth, 0});
    for (std::size_t i = 0; i < helpers_; ++i) threads_.emplace_back([this] { help(); });
  }
  Split(const Split&) = delete;
  Split& operator=(const Split&) = delete;
  // However the caller leaves (its callbacks may throw), the helpers stop.
  ~Split() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    work_.notify_all();
    room_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  void run() {
    std::vector<EventBuffer> taken;
    plan_ahead();
    std::unique_lock lock(mutex_);
    while (!units_.empty()) {
      Unit& unit = units_.front();
      head_ = &unit;
      if (held_helpers_ > 0) room_.notify_all();
      bool finished = false;
      while (!finished) {
        if (unit.batches.empty() && !unit.done) {
          reporter_waiting_ = true;
          head_ready_.wait(lock, [&] { return may_report(); });
          reporter_waiting_ = false;
        }
        std::swap(taken, unit.batches);
        buffered_ -= unit.pending;
        unit.pending = 0;
        finished = unit.done;
        if (held_helpers_ > 0) room_.notify_all();
        lock.unlock();
        report(taken, visit_, problem_);
        taken.clear();
        plan_ahead();
        lock.lock();
      }
      if (unit.error) std::rethrow_exception(unit.error);
      add_counters(caller_.counters_, unit.counters);
      head_ = nullptr;
      units_.pop_front();
    }
  }

 private:
  struct Frame {
    int fd;
    base::UniqueFd owned;  // closed for the split folder itself (the caller's)
    const Listing* list;
    std::unique_ptr<Listing> owned_list;
    std::string path;
    std::size_t depth;
    std::size_t next;
  };

  // Tops the window up once it is half empty, and wakes the helpers once
  // for all the units planned (not once per unit: in a re-scan they wait).
  // Only this thread changes units_ and planned_all_: it reads them unlocked.
  void plan_ahead() {
    if (planned_all_ || units_.size() > window_ / 2) return;
    std::vector<Unit> planned;
    while (!frames_.empty() && units_.size() + planned.size() < window_) {
      if (std::optional<Unit> unit = plan_one()) planned.push_back(std::move(*unit));
    }
    std::lock_guard lock(mutex_);
    for (Unit& unit : planned) {
      buffered_ += unit.pending;  // what the planner met itself
      const bool for_helper = !unit.done;
      units_.push_back(std::move(unit));
      if (for_helper) todo_.push_back(&units_.back());
    }
    planned_all_ = frames_.empty();
    if (idle_helpers_ > 0) work_.notify_all();
  }

  // The next item of the innermost folder being planned: a unit, or none
  // (a split-worthy folder to go down into, or the end of one).
  std::optional<Unit> plan_one() {
    Frame& frame = frames_.back();
    if (frame.next == frame.list->items.size()) {
      frames_.pop_back();
      return std::nullopt;
    }
    const std::size_t index = frame.next++;
    const Listing::Item& item = frame.list->items[index];
    Unit unit;
    EventBuffer batch;
    const VisitWork into_batch = [&batch](std::string_view path, const FileStat& stat, std::unique_ptr<FileWork> work) {
      batch.add(true, WalkProblem::vanished, path, stat, std::move(work));
    };
    const Problem problem_into_batch = [&batch](WalkProblem kind, std::string_view path) {
      batch.add(false, kind, path, {});
    };
    caller_.path_ = frame.path;
    if (item.type != DT_DIR) {
      caller_.visit_item(frame.fd, *frame.list, index, frame.path.size(), frame.depth, into_batch, problem_into_batch);
    } else {
      if (!frame.path.empty()) caller_.path_.push_back('/');
      caller_.path_.append(frame.list->name(item));
      unit.path = caller_.path_;
      unit.depth = frame.depth + 1;
      unit.folder = caller_.open_folder(frame.fd, caller_.path_.c_str() + (frame.path.empty() ? 0 : frame.path.size() + 1),
                                        problem_into_batch);
      // Only the split folder's own folders are looked into here: below
      // them (SS-MIX2's patient folders) listing is the helpers' work.
      if (unit.folder.get() >= 0 && frames_.size() == 1) {
        ++caller_.counters_.directories;
        unit.listing = std::make_unique<Listing>();
        if (!caller_.read_listing(unit.folder.get(), *unit.listing, problem_into_batch)) {
          unit.folder = base::UniqueFd();
        } else if (unit.listing->split_worthy()) {
          frames_.push_back(Frame{unit.folder.get(), std::move(unit.folder), nullptr, std::move(unit.listing),
                                  unit.path, unit.depth, 0});
          frames_.back().list = frames_.back().owned_list.get();
          return std::nullopt;
        }
      }
    }
    if (unit.folder.get() < 0) {
      unit.done = true;
      unit.pending = batch.bytes();
      unit.batches.push_back(std::move(batch));
    }
    return unit;
  }

  // Walks units in order; a unit's last batch, its end and the take of the
  // next are one critical section.
  void help() {
    TreeWalker walker;
    walker.dents_buffer_.resize(64 << 10);
    walker.open_ = caller_.open_;
    Unit* unit = nullptr;
    EventBuffer batch;
    try {
      while (true) {
        {
          std::unique_lock lock(mutex_);
          if (unit != nullptr) {
            if (!batch.events.empty()) put(lock, *unit, batch);
            unit->counters = walker.counters_;
            unit->done = true;
            wake_reporter();
          }
          if (todo_.empty() && !planned_all_ && !cancelled_) {
            ++idle_helpers_;
            wake_reporter();
            work_.wait(lock, [&] { return cancelled_ || !todo_.empty() || planned_all_; });
            --idle_helpers_;
          }
          if (cancelled_ || todo_.empty()) return;
          unit = todo_.front();
          todo_.pop_front();
        }
        try {
          walk_unit(walker, *unit, batch);
        } catch (const SplitCancelled&) {
          throw;
        } catch (...) {
          std::lock_guard lock(mutex_);
          unit->error = std::current_exception();
          unit->done = true;
          wake_reporter();
          unit = nullptr;
          batch = EventBuffer();
        }
      }
    } catch (const SplitCancelled&) {
      return;
    }
  }

  // Walks a unit, handing full batches over; the last is left in `batch`.
  void walk_unit(TreeWalker& walker, Unit& unit, EventBuffer& batch) {
    walker.counters_ = {};
    walker.path_ = unit.path;
    const VisitWork visit = [&](std::string_view path, const FileStat& stat, std::unique_ptr<FileWork> work) {
      batch.add(true, WalkProblem::vanished, path, stat, std::move(work));
      if (batch.events.size() >= event_batch) hand_over(unit, batch);
    };
    const Problem problem = [&](WalkProblem kind, std::string_view path) {
      batch.add(false, kind, path, {});
      if (batch.events.size() >= event_batch) hand_over(unit, batch);
    };
    if (unit.listing) {
      walker.walk_listed(unit.folder.get(), unit.depth, *unit.listing, visit, problem);
    } else {
      walker.walk_directory(unit.folder.get(), unit.depth, visit, problem);
    }
    unit.folder = base::UniqueFd();
    unit.listing.reset();
  }

  void hand_over(Unit& unit, EventBuffer& batch) {
    std::unique_lock lock(mutex_);
    put(lock, unit, batch);
  }

  // With the mutex held: hands a batch over once there is room for it. The
  // unit being reported has a budget of its own (the caller drains it); the
  // others share one.
  void put(std::unique_lock<std::mutex>& lock, Unit& unit, EventBuffer& batch) {
    const std::size_t bytes = batch.bytes();
    const auto room = [&] {
      if (cancelled_) return true;
      if (head_ == &unit) return unit.pending == 0 || unit.pending + bytes <= budget_ / 4;
      return buffered_ + bytes <= budget_;
    };
    if (!room()) {
      ++held_helpers_;
      wake_reporter();
      room_.wait(lock, room);
      --held_helpers_;
    }
    if (cancelled_) throw SplitCancelled{};
    buffered_ += bytes;
    unit.pending += bytes;
    unit.batches.push_back(std::move(batch));
    batch = EventBuffer();
    wake_reporter();
  }

  // With the mutex held. A caller that had to wait goes on once the unit it
  // reports has a batch, or is done with the next few (a wake-up per unit
  // would cost more than walking a patient's folder) - or once the helpers
  // cannot go on before it drains their buffers or gives them more.
  [[nodiscard]] bool may_report() const {
    const Unit& head = units_.front();
    if (!head.done) return !head.batches.empty();
    if (held_helpers_ > 0 || idle_helpers_ == helpers_) return true;
    std::size_t ready = 0;
    while (ready < units_.size() && ready < reporter_wake_units && units_[ready].done) ++ready;
    return ready == reporter_wake_units || ready == units_.size();
  }
  void wake_reporter() {
    if (reporter_waiting_ && may_report()) head_ready_.notify_one();
  }

  TreeWalker& caller_;
  const VisitWork& visit_;
  const Problem& problem_;
  const std::size_t budget_;
  const std::size_t helpers_;
  const std::size_t window_;
  std::vector<Frame> frames_;  // the caller's: the folders being planned, outermost first
  std::mutex mutex_;
  std::condition_variable head_ready_;  // the caller waits for the unit it reports
  std::condition_variable work_;        // helpers wait for a unit to walk
  std::condition_variable room_;        // helpers wait for room in the budget
  bool reporter_waiting_ = false;
  std::size_t idle_helpers_ = 0;
  std::size_t held_helpers_ = 0;
  std::deque<Unit> units_;  // planned, not yet reported (references stay valid)
  std::deque<Unit*> todo_;  // folders no helper took yet, in walk order
  Unit* head_ = nullptr;    // the unit being reported
  std::size_t buffered_ = 0;  // bytes in all units' buffers
  bool planned_all_ = false;
  bool cancelled_ = false;
  std::vector<std::thread> threads_;
};

void TreeWalker::walk_split(int fd, std::size_t depth, const Listing& list, const VisitWork& visit,
                            const Problem& problem) {
  Split split(*this, fd, depth, list, visit, problem);
  split.run();
}

}  // namespace medgw::collectors
