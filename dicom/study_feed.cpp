#include <dicom/study_feed.hpp>

#include <collectors/spool_sink.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/json.hpp>
#include <base/unique_fd.hpp>

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::dicom {
namespace {

namespace fs = std::filesystem;

bool plain_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

std::int64_t file_mtime_ns(const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return 0;
  return static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
}

// SHA-256 (hex) of a staged file, read in 1 MiB blocks.
std::string file_sha256(const fs::path& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  crypto::Sha256 hash;
  std::vector<char> block(1 << 20);
  for (;;) {
    const ssize_t got = ::read(fd.get(), block.data(), block.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return {};
    if (got == 0) break;
    hash.update(std::string_view(block.data(), static_cast<std::size_t>(got)));
  }
  return base::to_hex(hash.finish());
}

void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

std::string patient_folder_name(std::string_view patient_id) {
  if (patient_id.empty()) return "_unidentified";
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < patient_id.size(); ++i) {
    const char c = patient_id[i];
    const bool edge_dot = c == '.' && (i == 0 || i + 1 == patient_id.size());
    if (plain_char(c) && !edge_dot) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 0xF]);
    }
  }
  return out;
}

std::string instance_path(std::string_view patient_id, const InstanceFacts& facts) {
  return patient_folder_name(patient_id) + "/" + facts.study_uid + "/" + facts.sop_instance + ".dcm";
}

// ---- journal ----

void StudyFeed::Journal::add(Row row, fs::path file) {
  rows_.push_back(std::move(row));
  files_.push_back(std::move(file));
}

void StudyFeed::Journal::commit(base::Database& db, std::int64_t object_seq) {
  base::Statement instance = db.prepare(
      "INSERT INTO dicom_instances (source, sop_key, study_key, sha256, object_seq) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (source, sop_key) DO UPDATE SET study_key = ?3, sha256 = ?4, object_seq = ?5");
  base::Statement study = db.prepare(
      "INSERT INTO dicom_studies (source, study_key, first_seq) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  for (const Row& row : rows_) {
    instance.bind_all(source_, row.sop_key, row.study_key, row.sha256, object_seq).run();
    instance.reset();
    study.bind_all(source_, row.study_key, object_seq).run();
    study.reset();
  }
  rows_.clear();
  committed_.insert(committed_.end(), std::make_move_iterator(files_.begin()), std::make_move_iterator(files_.end()));
  files_.clear();
}

void StudyFeed::Journal::discard() {
  rows_.clear();
  files_.clear();
}

std::vector<fs::path> StudyFeed::Journal::take_committed() { return std::exchange(committed_, {}); }

// ---- feed ----

struct StudyFeed::Candidate {
  Staging::StagedFile file;
  InstanceFacts facts;
  std::string study_key;
  std::string sha256;
};

StudyFeed::StudyFeed(spool::StateDb& state, std::shared_ptr<const Staging> staging, StudyFeedSettings settings,
                     log::Logger logger, std::shared_ptr<OrthancPoller> poller, std::function<bool()> room)
    : state_(state),
      staging_(std::move(staging)),
      settings_(std::move(settings)),
      logger_(std::move(logger)),
      journal_(settings_.source),
      poller_(std::move(poller)),
      room_(room ? std::move(room) : [] { return true; }) {}

std::optional<base::Error> StudyFeed::poll() {
  base::Database& db = state_.db();
  base::Statement query = db.prepare("SELECT position FROM dicom_poll WHERE source = ?1");
  query.bind_all(settings_.source);
  const std::int64_t since = query.step() ? query.column_int64(0) : 0;
  const PollOutcome outcome = poller_->poll(since, room_);
  if (outcome.position != since) {
    base::WriteTransaction transaction(db);
    db.prepare("INSERT INTO dicom_poll (source, position) VALUES (?1, ?2) ON CONFLICT (source) DO UPDATE SET position = ?2")
        .bind_all(settings_.source, outcome.position)
        .run();
    transaction.commit();
  }
  if (outcome.instances > 0 || outcome.error || outcome.stopped_for_room) {
    logger_.info("dicom.polled", outcome.stopped_for_room ? "the PACS was read up to where the spool is full"
                                                          : "the PACS's new instances were staged",
                 {{"source", settings_.source}, {"instances", outcome.instances}, {"bytes", outcome.bytes},
                  {"position", outcome.position}});
  }
  return outcome.error;
}

std::string StudyFeed::sent_sha256(const std::string& sop_key) {
  base::Statement query = state_.db().prepare("SELECT sha256 FROM dicom_instances WHERE source = ?1 AND sop_key = ?2");
  query.bind_all(settings_.source, sop_key);
  return query.step() ? query.column_text(0) : std::string();
}

bool StudyFeed::study_sent(const std::string& study_key) {
  base::Statement query = state_.db().prepare("SELECT 1 FROM dicom_studies WHERE source = ?1 AND study_key = ?2");
  query.bind_all(settings_.source, study_key);
  return query.step();
}

void StudyFeed::collect(collectors::SpoolSink& sink, collectors::PassSummary& summary) {
  const std::optional<base::Error> poll_failure = poller_ ? poll() : std::nullopt;
  const std::vector<Staging::Study> studies = staging_->claim_settled(settings_.settle);
  summary.waiting += staging_->settling();
  for (const Staging::Study& study : studies) collect_study(study, sink, summary);
  // What was staged is spooled even when the PACS could not be read to the end.
  if (poll_failure) throw collectors::CollectionError("source " + settings_.source + ": " + poll_failure->message);
}

// Whether an instance may be sent now; an instance that must never go is
// removed from staging, one that must wait stays.
bool StudyFeed::admit(const Candidate& candidate, collectors::SpoolSink& sink, collectors::PassSummary& summary) {
  const InstanceFacts& facts = candidate.facts;
  const collectors::PatientPolicy& policy = sink.policy();
  const bool identified = !facts.patient_id.empty() && (settings_.issuer.empty() || facts.issuer == settings_.issuer);
  if (!identified) {
    ++summary.unidentified;
    if (policy.hold_unidentified && (!policy.optout->empty() || policy.notice)) {
      ++summary.held;
      return false;
    }
  } else if (policy.opted_out(facts.patient_id)) {
    ++summary.excluded_optout;
    remove_quietly(candidate.file.path);
    return false;
  }
  if (policy.before_since(facts.study_date)) {
    ++summary.excluded_since;
    remove_quietly(candidate.file.path);
    return false;
  }
  if (identified && policy.notice) {
    policy.notice->record(collectors::Encounter{facts.patient_id, facts.study_date, settings_.source + " " + facts.modality});
    if (policy.notice_pending(facts.patient_id, facts.study_date)) {
      ++summary.held_notice;
      return false;
    }
  }
  return true;
}

void StudyFeed::collect_study(const Staging::Study& study, collectors::SpoolSink& sink,
                              collectors::PassSummary& summary) {
  std::vector<Candidate> send;
  for (Staging::StagedFile& file : Staging::files_of(study)) {
    ++summary.files_seen;
    auto facts = read_instance(file.path);
    if (!facts) {
      // Checked when received: only a damaged disk gets here.
      ++summary.unreadable;
      logger_.warn("dicom.staged_unreadable", "a staged instance cannot be read and is left in staging: " +
                                                  facts.error().message,
                   {{"source", settings_.source}, {"code", facts.error().code}});
      continue;
    }
    Candidate candidate{std::move(file), std::move(*facts), study.key, {}};
    if (!admit(candidate, sink, summary)) continue;
    candidate.sha256 = file_sha256(candidate.file.path);
    if (candidate.sha256.empty()) {
      ++summary.unreadable;
      continue;
    }
    const std::string sent = sent_sha256(candidate.file.sop_key);
    if (sent == candidate.sha256) {
      ++summary.unchanged;  // sent already (the PACS sent it again)
      remove_quietly(candidate.file.path);
      continue;
    }
    send.push_back(std::move(candidate));
  }
  if (!send.empty()) {
    const bool follow_up = study_sent(study.key);
    sink.flush();  // the study starts an object of its own
    for (const Candidate& candidate : send) {
      const InstanceFacts& facts = candidate.facts;
      base::JsonWriter meta;
      meta.begin_object()
          .field("kind", "dicom")
          .field("patient_id", facts.patient_id)
          .field("issuer", facts.issuer)
          .field("study_uid", facts.study_uid)
          .field("series_uid", facts.series_uid)
          .field("sop_instance_uid", facts.sop_instance)
          .field("sop_class", facts.sop_class)
          .field("modality", facts.modality)
          .field("study_date", facts.study_date)
          .field("transfer_syntax", facts.transfer_syntax)
          .field("burned_in_annotation", facts.burned_in_annotation)
          .field("study_instances", static_cast<std::uint64_t>(send.size()))
          .field("follow_up", follow_up)
          .end_object();
      collectors::SinkItem item;
      item.entry.source = settings_.source;
      item.entry.path = instance_path(facts.patient_id, facts);
      item.entry.change = sent_sha256(candidate.file.sop_key).empty() ? spool::Change::add : spool::Change::modify;
      item.entry.file = candidate.file.path;
      item.entry.size = facts.size;
      item.entry.mtime_ns = file_mtime_ns(candidate.file.path);
      item.entry.sha256 = candidate.sha256;
      item.entry.meta_json = meta.take();
      item.patient_id = facts.patient_id;
      journal_.add(Row{candidate.file.sop_key, candidate.study_key, candidate.sha256}, candidate.file.path);
      sink.add_to_object(std::move(item));
    }
    sink.flush();
    for (const fs::path& file : journal_.take_committed()) remove_quietly(file);
  }
  std::error_code ec;
  fs::remove(study.dir, ec);  // only when empty: held instances stay
}

}  // namespace medgw::dicom
