#include <collectors/background_hash.hpp>

#include <utility>

namespace medgw::collectors {

BackgroundHash::BackgroundHash() : thread_([this] { run(); }) {}

BackgroundHash::~BackgroundHash() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BackgroundHash::start(crypto::ByteView bytes) {
  {
    const std::lock_guard lock(mutex_);
    piece_ = bytes;
    busy_ = true;
  }
  changed_.notify_all();
}

void BackgroundHash::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

crypto::Digest256 BackgroundHash::finish() {
  wait();
  return hash_.finish();
}

void BackgroundHash::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return busy_ || stopping_; });
    if (stopping_) return;
    const crypto::ByteView piece = piece_;
    lock.unlock();
    std::exception_ptr error;
    try {
      hash_.update(piece);
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
