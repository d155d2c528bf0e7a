#include <receiver/connection_limiter.hpp>

#include <algorithm>

#include <sys/resource.h>

namespace medgw::receiver {

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    entry_ = other.entry_;
  }
  return *this;
}

void ConnectionLimiter::Slot::release() noexcept {
  if (!state_) return;
  if (entry_->handshaking) {
    --state_->counters.handshaking;
    if (!entry_->close) --state_->evicted_pending;
  }
  if (!entry_->facility.empty()) {
    if (auto found = state_->per_facility.find(entry_->facility); found != state_->per_facility.end() && --found->second == 0) {
      state_->per_facility.erase(found);
    }
  }
  --state_->counters.open;
  state_->connections.erase(entry_);
  state_.reset();
}

ConnectionLimiter::ConnectionLimiter(ConnectionLimits limits) : state_(std::make_shared<State>()) {
  state_->limits = limits;
}

bool ConnectionLimiter::evict_oldest_handshake() {
  for (Entry& entry : state_->connections) {
    if (!entry.handshaking || !entry.close) continue;
    // The socket closes now; the session sees its handshake fail and drops
    // its slot a moment later.
    auto close = std::move(entry.close);
    entry.close = nullptr;
    ++state_->evicted_pending;
    ++state_->counters.evicted_total;
    close();
    return true;
  }
  return false;
}

ConnectionLimiter::Slot ConnectionLimiter::admit(std::function<void()> close) {
  State& state = *state_;
  ++state.counters.accepted_total;
  // Connections already closed but not yet gone do not count.
  auto open = [&] { return state.counters.open - state.evicted_pending; };
  auto handshaking = [&] { return state.counters.handshaking - state.evicted_pending; };
  while (open() >= state.limits.max_connections || handshaking() >= state.limits.max_handshakes) {
    if (!evict_oldest_handshake()) break;
  }
  if (open() >= state.limits.max_connections || handshaking() >= state.limits.max_handshakes) {
    ++state.counters.refused_total;
    return {};
  }
  state.connections.push_back(Entry{std::move(close), true, {}});
  ++state.counters.open;
  ++state.counters.handshaking;
  return Slot(state_, std::prev(state.connections.end()));
}

bool ConnectionLimiter::authenticated(Slot& slot, const std::string& facility) {
  Entry& entry = *slot.entry_;
  if (entry.handshaking) {
    entry.handshaking = false;
    --state_->counters.handshaking;
    if (!entry.close) --state_->evicted_pending;
  }
  if (facility.empty()) return true;
  std::uint64_t& count = state_->per_facility[facility];
  if (count >= state_->limits.max_per_facility) {
    ++state_->counters.facility_refused_total;
    if (count == 0) state_->per_facility.erase(facility);
    return false;
  }
  ++count;
  entry.facility = facility;
  return true;
}

void ConnectionLimiter::close_all() {
  for (Entry& entry : state_->connections) {
    if (!entry.close) continue;
    auto close = std::move(entry.close);
    entry.close = nullptr;
    if (entry.handshaking) ++state_->evicted_pending;
    close();
  }
}

std::uint64_t raise_open_file_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(limit.rlim_cur);
}

std::uint64_t connections_within_file_limit(std::uint64_t configured, std::uint64_t file_limit) {
  constexpr std::uint64_t reserve = 64;
  const std::uint64_t fitting = file_limit > reserve * 2 ? (file_limit - reserve) / 2 : 16;
  return std::max<std::uint64_t>(1, std::min(configured, fitting));
}

}  // namespace medgw::receiver
