#pragma once
// SHA-256 of a stream on a thread of its own: while it hashes a block of a
// large file, the thread that read it validates and filters the same block,
// so a claims file's one read keeps both cores at work.
#include <crypto/hash.hpp>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace medgw::collectors {

class BackgroundHash {
 public:
  BackgroundHash();
  BackgroundHash(const BackgroundHash&) = delete;
  BackgroundHash& operator=(const BackgroundHash&) = delete;
  ~BackgroundHash();

  // Starts hashing `bytes` (the next piece of the stream), which must stay
  // valid and unchanged until wait() returns. One piece at a time.
  void start(crypto::ByteView bytes);
  // Waits until the piece given to start() is hashed; rethrows its error.
  void wait();
  // Waits, then gives the digest of everything started so far.
  [[nodiscard]] crypto::Digest256 finish();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  crypto::ByteView piece_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  crypto::Sha256 hash_;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace medgw::collectors
