#pragma once
// The clock of the patient policy: which day it is for policy.since and the
// notice period (policy.notice). Everything else uses the system clock.
//
// Test builds (not MEDGW_PACKAGING) honour MEDGW_TEST_TODAY=YYYY-MM-DD, so a
// system test can move past patients' eligibility dates without waiting 30
// days; packaged builds ignore it (a gateway must never release data early
// because of its environment). When it is in effect, test_today() says so
// and the collection logs `policy.test_clock` at every refresh.
#include <chrono>
#include <optional>
#include <string>

namespace medgw::daemon {

// `now`, or noon of MEDGW_TEST_TODAY (local time) in a test build.
[[nodiscard]] std::chrono::system_clock::time_point policy_now(std::chrono::system_clock::time_point now);
// The date MEDGW_TEST_TODAY sets (YYYY-MM-DD), when it is in effect.
[[nodiscard]] std::optional<std::string> test_today();

}  // namespace medgw::daemon
