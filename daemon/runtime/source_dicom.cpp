// Source type `dicom` (issue 20). Mode `receive`: medgw is a DICOM storage
// destination of the PACS (a C-STORE SCP on `listen`, dicom/store_scp.hpp).
// Mode `poll`: medgw reads the PACS's change log over its REST API
// (Orthanc's /changes, dicom/orthanc_poller.hpp) each scan_interval.
// Either way instances rest in state_dir/dicom/<name>/ until their study
// settles and is spooled as one object (dicom/study_feed.hpp).
#include <daemon/runtime/builtin_sources.hpp>

#include <dicom/dicom_profile.hpp>
#include <dicom/store_scp.hpp>
#include <dicom/study_feed.hpp>

#include <base/human_size.hpp>

#include <array>
#include <mutex>


namespace medgw::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 2> modes{"receive", "poll"};

std::string check_listen(const ConfigValue& value) {
  if (value.text.empty()) return {};  // mode poll (check_mode asks for it in mode receive)
  const std::size_t colon = value.text.rfind(':');
  std::uint32_t port = 0;
  if (colon == std::string::npos || colon + 1 == value.text.size()) return "must be host:port, e.g. 0.0.0.0:11112";
  for (char c : value.text.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return "the port must be a number 1-65535";
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) return "the port must be a number 1-65535";
  return {};
}

std::string ae_problem(std::string_view ae) {
  if (ae.empty() || ae.size() > 16) return "an AE title has 1-16 characters";
  for (char c : ae) {
    if (c < 0x20 || c > 0x7E || c == '\\') return "an AE title has printable ASCII characters other than '\\' only";
  }
  return {};
}

std::string check_ae(const ConfigValue& value) { return ae_problem(value.text); }

std::string check_url(const ConfigValue& value) {
  if (value.text.empty()) return {};  // mode receive (check_mode asks for it in mode poll)
  if (!value.text.starts_with("http://") && !value.text.starts_with("https://")) return "must start with http:// or https://";
  return {};
}

std::string check_allow(const ConfigValue& value) {
  for (const std::string& entry : value.list) {
    const std::string problem = ae_problem(entry.substr(0, entry.find('@')));
    if (!problem.empty()) return "\"" + entry + "\": " + problem;
    if (entry.find('@') != std::string::npos && entry.find('@') + 1 == entry.size()) {
      return "\"" + entry + "\": AE@address needs the address (or leave out '@')";
    }
  }
  return {};
}

constexpr std::array keys{
    KeySpec{"mode", ValueKind::choice, "choice", false, "receive",
            "receive: medgw is a C-STORE destination (SCP) the PACS sends studies to; poll: medgw reads the PACS's "
            "REST change log (Orthanc API) at url.",
            modes, nullptr, nullptr},
    KeySpec{"listen", ValueKind::text, "host:port", false, "",
            "receive: address and port of the storage SCP, e.g. 0.0.0.0:11112 (register it at the PACS as a "
            "destination).",
            {}, check_listen, nullptr},
    KeySpec{"ae_title", ValueKind::text, "AE title", false, "MEDGW", "The called AE title the SCP answers to.", {},
            check_ae, nullptr},
    KeySpec{"allow", ValueKind::list, "list", false, "[]",
            "receive: calling AE titles accepted, each AE or AE@address (e.g. PACS01@10.0.0.5); others are rejected.",
            {}, check_allow, nullptr},
    KeySpec{"url", ValueKind::text, "URL", false, "",
            "poll: the PACS's REST root (Orthanc API), e.g. https://pacs.example.local:8042/.", {}, check_url, nullptr,
            Sensitivity::secret},  // may carry user:password@, as central.proxy may
    KeySpec{"ca", ValueKind::path, "path", false, "",
            "poll over https: the CA that signed the PACS's certificate (empty: the system's CAs).", {}, nullptr,
            nullptr},
    KeySpec{"cert", ValueKind::path, "path", false, "", "poll over https: a client certificate, if the PACS asks for one.",
            {}, nullptr, nullptr},
    KeySpec{"key", ValueKind::path, "path", false, "", "poll over https: the client certificate's key (0600).", {},
            nullptr, nullptr, Sensitivity::plain, false, true},
    KeySpec{"password_file", ValueKind::path, "path", false, "",
            "poll: a file (0600) holding user:password for HTTP Basic, if the PACS asks for it.", {}, nullptr, nullptr,
            Sensitivity::plain, false, true},
    KeySpec{"issuer", ValueKind::text, "text", false, "",
            "Issuer of Patient ID (0010,0021) of the hospital's patient IDs; empty: every PatientID is the hospital's.",
            {}, nullptr, nullptr},
};

std::vector<std::string> own_name(const SourceConfig& source) { return {source.name}; }

// What each mode needs.
std::vector<std::pair<std::string, std::string>> check_mode(const SourceConfig& source) {
  std::vector<std::pair<std::string, std::string>> problems;
  const ConfigValue* allow = source.setting("allow");
  if (source.text("mode") == "poll") {
    if (source.text("url").empty()) problems.emplace_back("url", "mode poll needs the PACS's REST root, e.g. http://pacs:8042/");
    if (!source.text("listen").empty()) problems.emplace_back("listen", "is for mode receive; leave it out with mode poll");
  } else {
    if (source.text("listen").empty()) problems.emplace_back("listen", "mode receive needs host:port, e.g. 0.0.0.0:11112");
    if (allow == nullptr || allow->list.empty()) {
      problems.emplace_back("allow", "must name at least one calling AE title (the PACS), e.g. [PACS01]; nobody else "
                                     "may send to medgw");
    }
    if (!source.text("url").empty()) problems.emplace_back("url", "is for mode poll; leave it out with mode receive");
  }
  return problems;
}

const SourceTypeSpec spec{"dicom",
                          "Medical images: whole studies from the PACS (it sends them by DICOM C-STORE, or medgw polls "
                          "its REST API).",
                          keys, "30s", "2m", own_name, check_mode};

// Whether more DICOM data may be taken in: what the spool and the staging
// area hold stays below spool.max_bytes, and the disk above spool.min_free.
bool dicom_room(const fs::path& state_dir, const spool::SpoolLimits& limits, const dicom::Staging& staging) {
  return room_for_more(state_dir, limits, staging.usage());
}

class DicomListener final : public SourceListener {
 public:
  DicomListener(dicom::ScpSettings settings, const ListenerContext& context)
      : state_dir_(context.state_dir),
        limits_(context.limits),
        staging_(std::make_shared<dicom::Staging>(context.state_dir / "dicom" / settings.source)),
        scp_(settings, staging_, [this] { return room(); }, context.logger) {
    if (const std::size_t left = staging_->clear_incoming(); left > 0) {
      context.logger.info("dicom.incoming_cleared",
                          "partial instances of associations cut by a stop or crash were removed (never answered)",
                          {{"source", settings.source}, {"files", static_cast<std::uint64_t>(left)}});
    }
  }

  void start() override { scp_.start(); }
  void stop() override { scp_.stop(); }

  void health(std::vector<std::string>& reasons) const override {
    std::lock_guard lock(mutex_);
    if (!last_room_) {
      reasons.push_back("the DICOM receiver answers A700 (out of resources): the spool and staged studies reached "
                        "spool.max_bytes or the disk its floor; it accepts again once uploads free room");
    }
  }

  [[nodiscard]] std::vector<Counter> counters() const override {
    const dicom::ScpCounters& c = scp_.counters();
    return {
        {"dicom_associations_total", "DICOM associations accepted", c.associations},
        {"dicom_associations_rejected_total", "association requests rejected (AE title, allow, limit)",
         c.associations_rejected},
        {"dicom_associations_aborted_total", "associations aborted (by the peer, timeouts, protocol errors)",
         c.associations_aborted},
        {"dicom_instances_stored_total", "instances received, fsynced and staged", c.instances_stored},
        {"dicom_bytes_stored_total", "bytes of instances staged", c.bytes_stored},
        {"dicom_instances_refused_no_room_total", "C-STORE answered A700 (spool full)", c.refused_no_room},
        {"dicom_instances_refused_invalid_total", "C-STORE refused: not DICOM, truncated, missing UIDs",
         c.refused_invalid},
        {"dicom_contexts_refused_total", "presentation contexts refused (SOP class or transfer syntax)",
         c.contexts_refused},
        {"dicom_echoes_total", "C-ECHO answered", c.echoes},
    };
  }

 private:
  bool room() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ < std::chrono::seconds(1)) return last_room_;
    checked_ = now;
    last_room_ = dicom_room(state_dir_, limits_, *staging_);
    return last_room_;
  }

  fs::path state_dir_;
  spool::SpoolLimits limits_;
  std::shared_ptr<dicom::Staging> staging_;
  dicom::StoreScp scp_;
  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point checked_{};
  bool last_room_ = true;
};

std::vector<SourcePass> passes(const SourceConfig& source, const SourceContext& context) {
  SourcePass pass;
  pass.label = source.name;
  pass.scan_interval = source.scan_interval;
  pass.settle = source.settle;
  pass.profile = std::make_shared<dicom::DicomProfile>();  // its patient folders, for withdrawals
  const fs::path staging_dir = context.state_dir / "dicom" / source.name;
  pass.waiting = [staging_dir] {
    const dicom::Staging::Counts counts = dicom::Staging::count(staging_dir);
    return std::to_string(counts.settling_instances) + " instances staged in " + std::to_string(counts.settling_studies) +
           " studies settling; " + std::to_string(counts.claimed_instances) + " in " +
           std::to_string(counts.claimed_studies) + " studies being spooled or held for the patient policy (" +
           base::human_size(counts.bytes) + ")";
  };
  dicom::StudyFeedSettings feed{source.name, std::chrono::duration_cast<std::chrono::milliseconds>(source.settle),
                                source.text("issuer")};
  if (source.text("mode") == "poll") {
    dicom::PollSettings poll{source.name, source.text("url"), source.path("ca"), source.path("cert"),
                             source.path("key"), source.path("password_file")};
    pass.make_feed = [staging_dir, feed, poll, context](const FeedContext& feed_context)
        -> std::unique_ptr<collectors::ChangeFeed> {
      auto staging = std::make_shared<dicom::Staging>(staging_dir);
      auto poller = std::make_shared<dicom::OrthancPoller>(poll, staging, feed_context.logger);
      auto room = [staging, state_dir = context.state_dir, limits = context.limits] {
        return dicom_room(state_dir, limits, *staging);
      };
      return std::make_unique<dicom::StudyFeed>(feed_context.state, staging, feed, feed_context.logger, poller, room);
    };
    return {std::move(pass)};
  }
  pass.make_feed = [staging_dir, feed](const FeedContext& feed_context) -> std::unique_ptr<collectors::ChangeFeed> {
    return std::make_unique<dicom::StudyFeed>(feed_context.state, std::make_shared<dicom::Staging>(staging_dir), feed,
                                              feed_context.logger);
  };
  dicom::ScpSettings scp;
  scp.source = source.name;
  scp.listen = source.text("listen");
  scp.ae_title = source.text("ae_title");
  if (const ConfigValue* allow = source.setting("allow")) scp.allow = allow->list;
  pass.make_listener = [scp](const ListenerContext& listener) -> std::unique_ptr<SourceListener> {
    return std::make_unique<DicomListener>(scp, listener);
  };
  return {std::move(pass)};
}

}  // namespace

const SourceType& dicom_source_type() {
  static const SourceType type{spec, passes};
  return type;
}

}  // namespace medgw::daemon
