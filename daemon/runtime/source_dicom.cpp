// Source type `dicom` (issue 20), mode `receive`: medgw is a DICOM storage
// destination of the PACS (a C-STORE SCP on `listen`, dicom/store_scp.hpp);
// instances rest in state_dir/dicom/<name>/ until their study settles and
// is spooled as one object (dicom/study_feed.hpp).
#include <daemon/runtime/builtin_sources.hpp>

#include <dicom/store_scp.hpp>
#include <dicom/study_feed.hpp>

#include <array>
#include <mutex>

#include <sys/statvfs.h>

namespace medgw::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 1> modes{"receive"};

std::string check_listen(const ConfigValue& value) {
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

std::string check_allow(const ConfigValue& value) {
  if (value.list.empty()) return "must name at least one calling AE title (the PACS), e.g. [PACS01]";
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
            "receive: medgw is a C-STORE destination (SCP) the PACS sends studies to.", modes, nullptr, nullptr},
    KeySpec{"listen", ValueKind::text, "host:port", true, "",
            "Address and port of the storage SCP, e.g. 0.0.0.0:11112 (register it at the PACS as a destination).", {},
            check_listen, nullptr},
    KeySpec{"ae_title", ValueKind::text, "AE title", false, "MEDGW", "The called AE title the SCP answers to.", {},
            check_ae, nullptr},
    KeySpec{"allow", ValueKind::list, "list", true, "",
            "Calling AE titles accepted, each AE or AE@address (e.g. PACS01@10.0.0.5); other callers are rejected.",
            {}, check_allow, nullptr},
    KeySpec{"issuer", ValueKind::text, "text", false, "",
            "Issuer of Patient ID (0010,0021) of the hospital's patient IDs; empty: every PatientID is the hospital's.",
            {}, nullptr, nullptr},
};

std::vector<std::string> own_name(const SourceConfig& source) { return {source.name}; }

const SourceTypeSpec spec{"dicom",
                          "Medical images: medgw receives whole studies from the PACS (DICOM C-STORE).", keys, "30s",
                          "2m", own_name};

std::uint64_t spool_usage(const fs::path& spool) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(spool, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->path().extension() == ".age") total += it->file_size(size_ec);
  }
  return total;
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
    struct statvfs info {};
    const bool disk_ok = ::statvfs(state_dir_.c_str(), &info) != 0 ||
                         static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize >= limits_.min_free;
    const std::uint64_t held = spool_usage(state_dir_ / spool::Spool::folder_name) + staging_->usage();
    last_room_ = disk_ok && held < limits_.max_bytes;
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
  const fs::path staging_dir = context.state_dir / "dicom" / source.name;
  dicom::StudyFeedSettings feed{source.name, std::chrono::duration_cast<std::chrono::milliseconds>(source.settle),
                                source.text("issuer")};
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
