#pragma once
// Change hints from inotify: a file written, moved or deleted under a
// source's root brings that source's next pass forward. Only a hint: the
// periodic scan stays the truth, so a network filesystem (where inotify sees
// only local writes), the watch limit or an overflowed queue costs latency,
// never data. Watches are added in slices on the event loop so a large tree
// never blocks it; paths never reach the log.
#include <base/log.hpp>

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medgw::daemon {

class ChangeHints {
 public:
  using Callback = std::function<void(const std::string& label)>;
  using Roots = std::vector<std::pair<std::string, std::filesystem::path>>;  // label, root

  ChangeHints(boost::asio::io_context& io, log::Logger logger, Callback callback);
  ~ChangeHints();
  ChangeHints(const ChangeHints&) = delete;
  ChangeHints& operator=(const ChangeHints&) = delete;

  // Replaces what is watched.
  void watch(Roots roots);
  void stop();
  // Directories watched now (for tests and status).
  [[nodiscard]] std::size_t watched() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace medgw::daemon
