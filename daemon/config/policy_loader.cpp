#include <daemon/config/policy_loader.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

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

std::string local_date(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::snprintf(text, sizeof text, "%04d%02d%02d", local.tm_year + 1900, local.tm_mon + 1, local.tm_mday);
  return text;
}

namespace {

struct FileRead {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0;
  std::string bytes;
  std::string sha256;  // hex
  std::string error;   // strerror text when it could not be read
};

// The file's identity first (to skip an unchanged file cheaply), then, when
// `read` is set, its bytes and their SHA-256.
FileRead stat_file(const std::filesystem::path& file) {
  FileRead out;
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.device = static_cast<std::uint64_t>(info.st_dev);
  out.inode = static_cast<std::uint64_t>(info.st_ino);
  out.size = static_cast<std::uint64_t>(info.st_size);
  out.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  return out;
}

bool read_bytes(const std::filesystem::path& file, FileRead& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    out.error = std::strerror(errno);
    return false;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  out.bytes = bytes.str();
  const crypto::Digest256 digest = crypto::sha256(crypto::as_bytes(std::string_view(out.bytes)));
  out.sha256 = base::to_hex(digest);
  return true;
}

// "FILE:LINE: what" from a parser's "line N: what".
std::string at_line(const std::filesystem::path& file, std::size_t line, const std::string& message) {
  const auto colon = message.find(": ");
  const std::string what = message.starts_with("line ") && colon != std::string::npos ? message.substr(colon + 2) : message;
  return file.string() + ":" + std::to_string(line) + ": " + what;
}

}  // namespace

PolicyLoader::PolicyLoader(PolicyConfig config, collectors::NoticeRegister::KnownPatient known)
    : config_(std::move(config)), known_(std::move(known)) {}

std::optional<std::string> PolicyLoader::refresh_register(const std::string& today) {
  const std::string keep = register_ ? "; the previous register stays in force"
                                     : "; nothing is collected until the register can be read";
  const std::filesystem::path& file = config_.notice.register_file;
  FileRead read = stat_file(file);
  const FileVersion version{read.device, read.inode, read.size, read.mtime_ns};
  if (read.error.empty() && register_ && register_file_.version == version) return std::nullopt;
  if (read.error.empty()) read_bytes(file, read);
  if (!read.error.empty()) {
    return file.string() + ": cannot read the notice register (policy.notice.register): " + read.error +
           "; restore the file or fix policy.notice.register" + keep;
  }
  try {
    register_ = std::make_shared<const collectors::NoticeRegister>(
        collectors::NoticeRegister::parse(read.bytes, known_, today));
    register_file_ = LoadedFile{version, read.sha256};
    changed_ = true;
    return std::nullopt;
  } catch (const collectors::NoticeRegisterError& error) {
    return at_line(file, error.line(), error.what()) + keep;
  }
}

std::optional<std::string> PolicyLoader::refresh(std::chrono::system_clock::time_point now) {
  changed_ = false;
  const std::string since = since_as_date(config_.since, now);
  const std::string today = local_date(now);
  const bool hold = config_.unidentified == UnidentifiedPolicy::hold;
  if (!config_.notice.start.empty()) {
    notice_settings_.start = since_as_date(config_.notice.start, now);
    notice_settings_.wait_days = std::chrono::duration_cast<std::chrono::days>(config_.notice.wait).count();
    notice_settings_.today = today;
    if (!config_.notice.register_file.empty()) {
      if (auto problem = refresh_register(today)) return problem;
    } else if (!register_) {
      register_ = std::make_shared<const collectors::NoticeRegister>();
    }
  }
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
  const std::string keep =
      current_ ? "; the previous list stays in force" : "; nothing is collected until the list can be read";
  FileRead read = stat_file(config_.optout_file);
  const FileVersion version{read.device, read.inode, read.size, read.mtime_ns};
  if (read.error.empty() && current_ && optout_file_.version == version) {
    if (since != since_) publish(current_->optout);
    since_ = since;
    return std::nullopt;
  }
  if (read.error.empty()) read_bytes(config_.optout_file, read);
  if (!read.error.empty()) {
    return config_.optout_file.string() + ": cannot read the opt-out list (policy.optout_file): " + read.error +
           "; restore the file or fix policy.optout_file" + keep;
  }
  try {
    auto list = std::make_shared<const collectors::OptOutList>(collectors::OptOutList::parse(read.bytes));
    publish(std::move(list));
    optout_file_ = LoadedFile{version, read.sha256};
    since_ = since;
    changed_ = true;
    return std::nullopt;
  } catch (const collectors::OptOutError& error) {
    return at_line(config_.optout_file, error.line(), error.what()) + keep;
  }
}

}  // namespace medgw::daemon
