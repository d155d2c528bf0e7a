#include <dicom/orthanc_poller.hpp>

#include <dicom/instance.hpp>

#include <base/curl_fetch.hpp>
#include <base/curl_handles.hpp>
#include <base/json_reader.hpp>
#include <base/private_file.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace medgw::dicom {
namespace {

using base::fail;

// Orthanc's identifiers: hex groups joined by '-'.
bool safe_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'; });
}

// Where a body goes: a string (JSON, capped) or a staged file.
struct Sink {
  std::string* text = nullptr;
  std::size_t text_limit = 16U << 20;
  int fd = -1;
  std::uint64_t bytes = 0;
  bool failed = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t length = size * count;
  if (sink->text != nullptr) {
    if (sink->text->size() + length > sink->text_limit) return 0;
    sink->text->append(data, length);
  } else {
    std::string_view rest(data, length);
    while (!rest.empty()) {
      const ssize_t wrote = ::write(sink->fd, rest.data(), rest.size());
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) {
        sink->failed = true;
        return 0;
      }
      rest.remove_prefix(static_cast<std::size_t>(wrote));
    }
  }
  sink->bytes += length;
  return length;
}

std::string host_of(const std::string& url) {
  const std::size_t start = url.find("://");
  const std::size_t from = start == std::string::npos ? 0 : start + 3;
  const std::size_t end = url.find('/', from);
  std::string host = url.substr(from, end == std::string::npos ? std::string::npos : end - from);
  if (const std::size_t at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
  return host;
}

}  // namespace

OrthancPoller::OrthancPoller(PollSettings settings, std::shared_ptr<const Staging> staging, log::Logger logger)
    : settings_(std::move(settings)), staging_(std::move(staging)), logger_(std::move(logger)) {
  if (!settings_.url.empty() && settings_.url.back() != '/') settings_.url.push_back('/');
  if (!settings_.password_file.empty()) {
    const base::SecureBytes secret = base::read_private_file(settings_.password_file);
    credentials_.assign(secret.begin(), secret.end());
    while (!credentials_.empty() && (credentials_.back() == '\n' || credentials_.back() == '\r')) credentials_.pop_back();
  }
}

namespace {

// One GET into `sink`; the error names the host and what to check.
base::Status fetch(const PollSettings& settings, const std::string& credentials, const std::string& path, Sink& sink) {
  base::curl::Easy easy(curl_easy_init());
  if (!easy) return fail("poll_failed", "libcurl could not start a transfer");
  const std::string url = settings.url + path;
  CURL* handle = easy.get();
  base::curl::set_fetch_options(handle, url, {settings.ca, settings.cert, settings.key});
  if (!credentials.empty()) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(handle, CURLOPT_USERPWD, credentials.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  const CURLcode code = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  const std::string where = "the PACS at " + host_of(settings.url);
  if (sink.failed) return fail("staging_failed", "cannot write a downloaded instance: " + std::string(std::strerror(errno)));
  if (code != CURLE_OK) return fail("poll_failed", where + " cannot be read: " + curl_easy_strerror(code));
  if (status == 401 || status == 403) {
    return fail("poll_refused", where + " refused medgw (HTTP " + std::to_string(status) +
                                    "): check sources[].password_file or the client certificate");
  }
  if (status != 200) return fail("poll_failed", where + " answered HTTP " + std::to_string(status));
  return {};
}

}  // namespace

base::Result<std::string> OrthancPoller::get_text(const std::string& path) {
  std::string text;
  Sink sink;
  sink.text = &text;
  if (base::Status status = fetch(settings_, credentials_, path, sink); !status) return fail(status.error());
  return text;
}

base::Status OrthancPoller::download(const std::string& instance_id, PollOutcome& outcome) {
  Staging::Incoming incoming = staging_->open_incoming();
  Sink sink;
  sink.fd = incoming.fd.get();
  base::Status fetched = fetch(settings_, credentials_, "instances/" + instance_id + "/file", sink);
  const int fd = incoming.fd.release();
  const bool durable = fetched.ok() && ::fdatasync(fd) == 0;
  ::close(fd);
  if (!durable) {
    ::unlink(incoming.path.c_str());
    return fetched.ok() ? fail("staging_failed", "cannot make a downloaded instance durable") : fetched;
  }
  auto facts = read_instance(incoming.path);
  if (!facts) {
    ::unlink(incoming.path.c_str());
    logger_.warn("dicom.instance_refused", "an instance of the PACS was not taken: " + facts.error().message,
                 {{"source", settings_.source}, {"reason", facts.error().code}});
    return {};
  }
  staging_->stage(incoming.path, *facts);
  ++outcome.instances;
  outcome.bytes += facts->size;
  return {};
}

PollOutcome OrthancPoller::poll(std::int64_t since, const std::function<bool()>& room) {
  PollOutcome outcome;
  outcome.position = since;
  auto stop = [&](base::Error error) {
    outcome.error = std::move(error);
    return outcome;
  };
  for (;;) {
    auto page = get_text("changes?since=" + std::to_string(outcome.position) + "&limit=" + std::to_string(settings_.page));
    if (!page) return stop(page.error());
    base::JsonValue changes;
    try {
      changes = base::JsonValue::parse(*page);
    } catch (const std::exception&) {
      return stop({"poll_failed", "the PACS at " + host_of(settings_.url) + " answered /changes with something else than JSON"});
    }
    const base::JsonValue* list = changes.find("Changes");
    if (list == nullptr) return stop({"poll_failed", "the PACS's /changes answer has no Changes list: is url Orthanc's REST root?"});
    for (const base::JsonValue& change : list->items()) {
      const base::JsonValue* seq = change.find("Seq");
      const base::JsonValue* type = change.find("ChangeType");
      const base::JsonValue* id = change.find("ID");
      if (seq == nullptr || !seq->as_uint()) continue;
      if (type != nullptr && id != nullptr && type->text() == "NewInstance") {
        if (!safe_id(id->text())) return stop({"poll_failed", "the PACS named an instance with an unexpected identifier"});
        if (!room()) {
          outcome.stopped_for_room = true;
          return outcome;
        }
        if (base::Status staged = download(id->text(), outcome); !staged) return stop(staged.error());
      }
      outcome.position = std::max<std::int64_t>(outcome.position, static_cast<std::int64_t>(*seq->as_uint()));
    }
    const base::JsonValue* done = changes.find("Done");
    const base::JsonValue* last = changes.find("Last");
    if (last != nullptr && last->as_uint()) {
      outcome.position = std::max<std::int64_t>(outcome.position, static_cast<std::int64_t>(*last->as_uint()));
    }
    if (done == nullptr || done->boolean() || list->items().empty()) return outcome;
  }
}

}  // namespace medgw::dicom
