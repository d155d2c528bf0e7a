#include <daemon/config/policy_loader.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sys/stat.h>

namespace medgw::daemon {

std::string since_as_date(std::string_view since, std::chrono::system_clock::time_point now) {
  if (since.empty()) return {};
  if (since.back() == 'y') {
    const int years = std::stoi(std::string(since.substr(0, since.size() - 1)));
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    std::tm local{};
    localtime_r(&seconds, &local);
    const int year = local.tm_year + 1900 - years;
    int day = local.tm_mday;
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (local.tm_mon == 1 && day == 29 && !leap) day = 28;
    char text[48];
    std::snprintf(text, sizeof text, "%04d%02d%02d", year, local.tm_mon + 1, day);
    return text;
  }
  // YYYY-MM-DD (validated with the config)
  return std::string(since.substr(0, 4)) + std::string(since.substr(5, 2)) + std::string(since.substr(8, 2));
}

PolicyLoader::PolicyLoader(PolicyConfig config) : config_(std::move(config)) {}

std::optional<std::string> PolicyLoader::refresh(std::chrono::system_clock::time_point now) {
  changed_ = false;
  const std::string since = since_as_date(config_.since, now);
  const bool hold = config_.unidentified == UnidentifiedPolicy::hold;
  auto publish = [&](std::shared_ptr<const collectors::OptOutList> list) {
    auto policy = std::make_shared<collectors::PatientPolicy>();
    policy->optout = std::move(list);
    policy->since = since;
    policy->hold_unidentified = hold;
    current_ = std::move(policy);
  };
  if (config_.optout_file.empty()) {
    if (!current_ || since != since_) publish(std::make_shared<const collectors::OptOutList>());
    since_ = since;
    return std::nullopt;
  }
  struct stat info {};
  if (::stat(config_.optout_file.c_str(), &info) != 0) {
    return config_.optout_file.string() + ": cannot read the opt-out list (policy.optout_file): " +
           std::string(std::strerror(errno)) + "; restore the file or fix policy.optout_file" +
           (current_ ? "; the previous list stays in force" : "; nothing is collected until the list can be read");
  }
  const FileVersion version{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                            static_cast<std::uint64_t>(info.st_size),
                            static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  if (current_ && loaded_version_ == version) {
    if (since != since_) publish(current_->optout);
    since_ = since;
    return std::nullopt;
  }
  try {
    auto list = std::make_shared<const collectors::OptOutList>(collectors::OptOutList::load(config_.optout_file));
    publish(std::move(list));
    loaded_version_ = version;
    since_ = since;
    changed_ = true;
    return std::nullopt;
  } catch (const collectors::OptOutError& error) {
    return std::string(error.what()) +
           (current_ ? "; the previous list stays in force" : "; nothing is collected until the list can be read");
  }
}

}  // namespace medgw::daemon
