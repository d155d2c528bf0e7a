#pragma once
// Poll mode of a `dicom` source: medgw reads a PACS that speaks Orthanc's
// REST API. Its change log (GET /changes?since=N) names every new instance;
// each is downloaded whole (GET /instances/{id}/file) into the staging area
// exactly as the PACS stores it (streamed to disk, fsynced, checked by read_instance), and from there the study feed spools
// settled studies as in receive mode. The change log's position is kept in
// state.db (dicom_poll) and moves only past instances already staged: a
// crash downloads some instances again, which the staging area and the sent
// record (same name, same content) absorb.
#include <dicom/staging.hpp>

#include <base/log.hpp>
#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace medgw::dicom {

struct PollSettings {
  std::string source;
  std::string url;                  // the REST root, e.g. https://pacs.local:8042/
  std::filesystem::path ca;         // https: trust only this CA (empty: the system's)
  std::filesystem::path cert, key;  // https: client certificate, if the PACS asks for one
  std::filesystem::path password_file;  // HTTP Basic "user:password" (0600), if the PACS asks
  std::size_t page = 200;           // changes asked per request
};

struct PollOutcome {
  std::int64_t position = 0;     // the change log's position after this poll
  std::uint64_t instances = 0;   // downloaded and staged
  std::uint64_t bytes = 0;
  bool stopped_for_room = false; // the spool or disk was full: the rest waits
  std::optional<base::Error> error;  // the poll stopped here (position is still good)
};

class OrthancPoller {
 public:
  OrthancPoller(PollSettings settings, std::shared_ptr<const Staging> staging, log::Logger logger);

  // Reads the change log from `since`, staging each new instance while
  // `room()` says there is room. Errors name the URL's host, never a patient;
  // the position is good up to where the poll stopped.
  [[nodiscard]] PollOutcome poll(std::int64_t since, const std::function<bool()>& room);

 private:
  [[nodiscard]] base::Result<std::string> get_text(const std::string& path);
  [[nodiscard]] base::Status download(const std::string& instance_id, PollOutcome& outcome);

  PollSettings settings_;
  std::shared_ptr<const Staging> staging_;
  log::Logger logger_;
  std::string credentials_;
};

}  // namespace medgw::dicom
