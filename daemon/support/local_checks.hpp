#pragma once
// The checks of this machine against a valid configuration: state_dir and
// state.db, the secret files, each source (present, readable as the service
// user, shaped like its type), the files the service reads, the inotify
// limit, free space, the client certificate's validity, the receipt key and
// the upload window. Each gathers facts and hands them to a judgement
// (judgements.hpp).
#include <daemon/support/check.hpp>
#include <daemon/support/service_account.hpp>

#include <daemon/config/config.hpp>

#include <chrono>
#include <vector>

namespace medgw::daemon {

[[nodiscard]] std::vector<Check> check_state(const Config& config, const ServiceAccount& account);

// Sources, the other files the service reads, and the inotify limit;
// `walk_budget` bounds the folder count of large trees.
[[nodiscard]] std::vector<Check> check_sources_and_files(const Config& config, const ServiceAccount& account,
                                                         std::chrono::milliseconds walk_budget);

[[nodiscard]] Check check_disk(const Config& config);
[[nodiscard]] Check check_certificate(const Config& config, std::chrono::system_clock::time_point now);
// `receipts_offered`: the central answered with Medgw-Receipts.
[[nodiscard]] Check check_receipt_key(const Config& config, bool receipts_offered);
[[nodiscard]] Check check_upload_window(const Config& config, std::chrono::system_clock::time_point now);

// The effective inotify watch limit for this user: the lower of
// fs.inotify.max_user_watches and user.max_inotify_watches (a container's).
[[nodiscard]] std::uint64_t inotify_watch_limit();

}  // namespace medgw::daemon
