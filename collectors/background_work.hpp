#pragma once
// Work on the blocks of a stream on a thread of its own: while it hashes
// and checks a block of a large file, the thread that read it filters the
// same block, so a claims file's read keeps both cores at work.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

namespace medgw::collectors {

class BackgroundWork {
 public:
  using Work = std::function<void(std::string_view block)>;
  explicit BackgroundWork(Work work);
  BackgroundWork(const BackgroundWork&) = delete;
  BackgroundWork& operator=(const BackgroundWork&) = delete;
  ~BackgroundWork();

  // Starts the work on `block` (the next piece of the stream), which must
  // stay valid and unchanged until wait() returns. One block at a time.
  void start(std::string_view block);
  // Waits until the block given to start() is done; rethrows its error.
  // What the work wrote is then visible to the caller.
  void wait();

 private:
  void run();

  Work work_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string_view block_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace medgw::collectors
