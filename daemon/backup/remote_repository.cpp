#include <daemon/backup/remote_repository.hpp>

#include <crypto/random.hpp>

#include <base/curl_handles.hpp>
#include <base/hex.hpp>
#include <base/time_format.hpp>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <system_error>
#include <thread>

#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::backup {
namespace {

constexpr std::size_t kept_body = 64 << 10;

std::size_t keep_body(char* data, std::size_t size, std::size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  const std::size_t bytes = size * count;
  if (body->size() < kept_body) body->append(data, std::min(bytes, kept_body - body->size()));
  return bytes;
}

// Backup-Size: the size of a file a HEAD asked about.
std::size_t keep_size(char* data, std::size_t size, std::size_t count, void* out) {
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  constexpr std::string_view name = "backup-size:";
  if (line.size() > name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
    std::string_view value = line.substr(name.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    auto* length = static_cast<std::optional<std::uint64_t>*>(out);
    std::uint64_t parsed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec == std::errc() && end == value.data() + value.size()) *length = parsed;
  }
  return bytes;
}

// No answer, or the central asks to come back (not 507: a full quota stays full).
bool transient(long status) { return status == 0 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

class FileCloser {
 public:
  explicit FileCloser(std::FILE* file) : file_(file) {}
  ~FileCloser() {
    if (file_ != nullptr) std::fclose(file_);
  }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  std::FILE* file_;
};

// The run's lease at the central: locks/run-<random>, renewed by a PUT at
// most once a minute, given back with DELETE (the one name a gateway may
// delete: a lease holds no data).
class RemoteLease final : public RunLease {
 public:
  RemoteLease(const RemoteRepository& repository, std::string name)
      : repository_(repository), name_(std::move(name)) {}
  ~RemoteLease() override { (void)repository_.request(RemoteRepository::Method::del, name_, nullptr, {}, false); }
  RemoteLease(const RemoteLease&) = delete;
  RemoteLease& operator=(const RemoteLease&) = delete;

  void refresh() override {
    const auto now = std::chrono::steady_clock::now();
    if (now - refreshed_ < std::chrono::minutes(1)) return;
    refreshed_ = now;
    (void)repository_.request(RemoteRepository::Method::put, name_, nullptr, "run");
  }

 private:
  const RemoteRepository& repository_;
  std::string name_;
  std::chrono::steady_clock::time_point refreshed_ = std::chrono::steady_clock::now();
};

}  // namespace

struct RemoteRepository::Handle {
  base::curl::Easy easy{curl_easy_init()};
};

RemoteRepository::RemoteRepository(RemoteSettings settings)
    : settings_(std::move(settings)), handle_(std::make_unique<Handle>()) {
  if (!handle_->easy) throw std::runtime_error("libcurl: cannot make a handle");
}

RemoteRepository::~RemoteRepository() = default;

RemoteRepository::Reply RemoteRepository::attempt(Method method, const std::string& name,
                                                  const std::filesystem::path* body, std::string_view text) const {
  CURL* easy = handle_->easy.get();
  curl_easy_reset(easy);  // keeps the connection
  settings_.profile.apply(easy);
  const std::string url = settings_.url + name;
  Reply reply;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply.body);
  base::curl::Slist headers(curl_slist_append(nullptr, "Expect:"));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  std::FILE* file = nullptr;
  if (method == Method::head) {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, keep_size);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &reply.size);
  }
  if (method == Method::del) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
  if (method == Method::put && body != nullptr) {
    file = std::fopen(body->c_str(), "rb");
    if (file == nullptr) throw std::system_error(errno, std::generic_category(), "cannot read " + body->string());
    struct stat info {};
    ::fstat(::fileno(file), &info);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READDATA, file);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(info.st_size));
    if (settings_.bandwidth > 0) {
      curl_easy_setopt(easy, CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(settings_.bandwidth));
    }
  } else if (method == Method::put) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, text.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(text.size()));
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PUT");
  }
  const FileCloser closer(file);
  const CURLcode code = curl_easy_perform(easy);
  if (code != CURLE_OK) {
    reply.error = error[0] != '\0' ? error : curl_easy_strerror(code);
    return reply;
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

RemoteRepository::Reply RemoteRepository::request(Method method, const std::string& name,
                                                  const std::filesystem::path* body, std::string_view text,
                                                  bool retry) const {
  Reply reply;
  const unsigned attempts = retry ? settings_.attempts : 1;
  for (unsigned attempt_number = 1; attempt_number <= attempts; ++attempt_number) {
    reply = attempt(method, name, body, text);
    if (!transient(reply.status) || attempt_number == attempts) break;
    std::this_thread::sleep_for(settings_.retry_wait * attempt_number);
  }
  return reply;
}

base::Result<std::optional<RepositoryConfig>> RemoteRepository::read_config() const {
  const Reply reply = request(Method::get, "config");
  if (reply.status == 404) return std::optional<RepositoryConfig>();
  if (reply.status != 200) return base::fail(remote_error(reply, "config", settings_.url));
  auto config = parse_repository_config(reply.body);
  if (!config) {
    return base::fail("not_a_repository", settings_.url + "config is not a medgw backup repository's config");
  }
  return std::optional<RepositoryConfig>(std::move(*config));
}

base::Status RemoteRepository::prepare() const {
  std::error_code ec;
  std::filesystem::create_directories(settings_.outgoing, ec);
  if (ec) {
    return base::fail("state_error", "cannot create " + settings_.outgoing.string() + ": " + ec.message());
  }
  ::chmod(settings_.outgoing.c_str(), 0700);
  return {};
}

std::unique_ptr<NewFile> RemoteRepository::new_file() const { return std::make_unique<NewFile>(settings_.outgoing); }

void RemoteRepository::publish(NewFile& file, const std::string& name) const {
  const Reply reply = request(Method::put, name, &file.path());
  if (reply.status == 200 || reply.status == 201) return;  // the file is dropped (its temporary removed) by its owner
  if (reply.status == 409) throw std::system_error(EEXIST, std::generic_category(), settings_.url + name + " exists");
  throw RepositoryFailure(remote_error(reply, name, settings_.url));
}

std::optional<std::uint64_t> RemoteRepository::file_size(const std::string& name) const {
  const Reply reply = request(Method::head, name);
  if (reply.status == 200 && reply.size) return reply.size;
  if (reply.status == 404) return std::nullopt;
  throw RepositoryFailure(remote_error(reply, name, settings_.url));
}

void RemoteRepository::remove_temporaries() const {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(settings_.outgoing, ec)) {
    if (entry.path().filename().string().starts_with("new-")) std::filesystem::remove(entry.path(), ec);
  }
}

base::Result<std::unique_ptr<RunLease>> RemoteRepository::lease_for_run() const {
  std::array<std::uint8_t, 12> random{};
  crypto::random_bytes(random);
  const std::string name = "locks/run-" + base::to_hex(random);
  const Reply reply = request(Method::put, name, nullptr, "run");
  if (reply.status == 423) {
    return base::fail("repository_busy", "retention (medgw-receiver backup-forget) is running on this facility's "
                                         "backup at the central; the backup runs again at its next time");
  }
  if (reply.status != 200 && reply.status != 201) return base::fail(remote_error(reply, "locks/", settings_.url));
  return std::unique_ptr<RunLease>(std::make_unique<RemoteLease>(*this, name));
}

base::Error remote_error(const RemoteRepository::Reply& reply, std::string_view what, std::string_view where) {
  const std::string target = std::string(where) + std::string(what);
  std::string said = reply.body.substr(0, std::min<std::size_t>(reply.body.find('\n'), 200));
  if (reply.status == 0) {
    return {"repository_unreachable", "the central's backup endpoint " + std::string(where) +
                                          " could not be reached (" + reply.error +
                                          "); the backup runs again at its next time and goes on from what is stored"};
  }
  if (reply.status == 507) {
    return {"repository_quota", "the central's backup area of this facility is full (its quota) while storing " +
                                    target + "; ask the central's operator for a larger quota or for retention "
                                    "(medgw-receiver backup-forget)"};
  }
  if (reply.status == 403 || reply.status == 401) {
    return {"repository_refused", "the central refused this gateway's certificate for its backup endpoint (" +
                                      std::to_string(reply.status) + ": " + said +
                                      "); is the facility listed in the central's receiver.yaml?"};
  }
  if (reply.status == 404) {
    return {"repository_missing", "the central has no backup endpoint at " + std::string(where) +
                                      " (404; receiver.yaml backup.dir not set?)"};
  }
  return {"repository_refused", "the central's backup endpoint answered " + std::to_string(reply.status) + " for " +
                                    target + (said.empty() ? "" : ": " + said)};
}

}  // namespace medgw::backup
