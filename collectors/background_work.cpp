#include <collectors/background_work.hpp>

#include <utility>

namespace medgw::collectors {

BackgroundWork::BackgroundWork(Work work) : work_(std::move(work)), thread_([this] { run(); }) {}

BackgroundWork::~BackgroundWork() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();  // a block in progress is finished first
}

void BackgroundWork::start(std::string_view block) {
  {
    const std::lock_guard lock(mutex_);
    block_ = block;
    busy_ = true;
  }
  changed_.notify_all();
}

void BackgroundWork::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void BackgroundWork::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return busy_ || stopping_; });
    if (!busy_) return;  // stopping, nothing left
    const std::string_view block = block_;
    lock.unlock();
    std::exception_ptr error;
    try {
      work_(block);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    busy_ = false;
    changed_.notify_all();
  }
}

}  // namespace medgw::collectors
