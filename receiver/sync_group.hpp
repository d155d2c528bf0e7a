#pragma once
// Group commit (issue 23). Objects that finish at the same time all need
// their database rows committed with a flush and the same folders fsynced;
// done one object at a time, a receiver of small objects spends its time
// waiting on the disk. A caller hands its work items to submit() and returns
// once they are done; whoever finds no round running takes every item
// gathered so far and runs them as one round (one transaction, each folder
// fsynced once) for all the callers that gave them; callers that arrive
// meanwhile gather for the next round. An item is only ever run by a round
// that began after its caller asked, so a caller's earlier writes are
// always covered.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace medgw::receiver {

template <class Item>
class GroupCommit {
 public:
  // Runs one round: sets errors[i] (0: done; else an errno) for items[i].
  using Round = std::function<void(const std::vector<Item>& items, std::vector<int>& errors)>;

  explicit GroupCommit(Round round) : round_(std::move(round)) {}

  // Blocks until the items ran in a round that began after this call;
  // returns 0, or the errno of the first of them that failed.
  [[nodiscard]] int submit(std::vector<Item> items) {
    std::unique_lock lock(mutex_);
    const std::uint64_t mine = gathering_round_;
    const std::size_t first = gathering_.size();
    const std::size_t count = items.size();
    for (Item& item : items) gathering_.push_back(std::move(item));
    Outcome& own = outcomes_[mine];  // map nodes stay put
    ++own.waiters;
    while (!own.done) {
      if (running_) {
        // Woken when this round is done, or when the round before it ended
        // and this one may run (not at every other round's end).
        own.wake.wait(lock);
        continue;
      }
      // Nobody runs a round, and rounds run in order: the round gathering
      // now is this caller's own; it runs it for everyone in it.
      running_ = true;
      const std::uint64_t round = gathering_round_++;
      std::vector<Item> batch = std::exchange(gathering_, {});
      lock.unlock();
      std::vector<int> errors(batch.size(), 0);
      try {
        round_(batch, errors);
      } catch (...) {
        errors.assign(batch.size(), EIO);
      }
      lock.lock();
      running_ = false;
      Outcome& ran = outcomes_[round];  // this caller's own
      ran.done = true;
      ran.errors = std::move(errors);
      ++rounds_;
      ran.wake.notify_all();
      // One caller of the round gathered meanwhile runs it next.
      if (const auto next = outcomes_.find(gathering_round_); next != outcomes_.end()) next->second.wake.notify_one();
    }
    int error = 0;
    for (std::size_t i = first; i < first + count && error == 0; ++i) error = own.errors[i];
    if (--own.waiters == 0) outcomes_.erase(mine);
    return error;
  }

  // Rounds run so far (tests and diagnostics).
  [[nodiscard]] std::uint64_t rounds() {
    std::lock_guard lock(mutex_);
    return rounds_;
  }

 private:
  struct Outcome {
    int waiters = 0;
    bool done = false;
    std::vector<int> errors;
    std::condition_variable wake;  // its callers wait here
  };
  Round round_;
  std::mutex mutex_;
  std::vector<Item> gathering_;
  std::uint64_t gathering_round_ = 1;
  std::uint64_t rounds_ = 0;
  bool running_ = false;
  std::map<std::uint64_t, Outcome> outcomes_;
};

// fsyncs each distinct folder or file of a round once; a path that fails
// fails every item naming it.
void fsync_each_once(const std::vector<std::filesystem::path>& paths, std::vector<int>& errors);

}  // namespace medgw::receiver
