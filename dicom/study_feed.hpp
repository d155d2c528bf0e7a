#pragma once
// The change feed of a `dicom` source: studies in the staging area whose
// last instance came `settle` ago are claimed and spooled, one object per
// study (its instances streamed from their files, never held in memory).
// Before anything is read into an object, each instance is judged by its
// patient (PatientID (0010,0020), trimmed; with `issuer` set, only IDs of
// that Issuer of Patient ID (0010,0021) are the hospital's):
//   - opted out, or a study dated before policy.since: deleted from staging;
//   - notice period not passed, or no hospital patient ID while opt-outs or
//     the notice period are in force (policy.unidentified: hold): kept in
//     staging and judged again each pass;
//   - an instance already sent with the same content (a PACS sending again
//     after a crash): dropped; with other content: sent as a modification.
// Later instances of a study already sent go in a follow-up object whose
// entries say so. The journal records the sent instances in the
// transaction that records the object (invariant 1); their files are
// removed from staging after that commit (a crash in between: the next
// pass finds them recorded and drops them).
#include <dicom/orthanc_poller.hpp>
#include <dicom/staging.hpp>

#include <collectors/collection_pass.hpp>

#include <spool/state_db.hpp>

#include <base/log.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace medgw::dicom {

struct StudyFeedSettings {
  std::string source;
  std::chrono::milliseconds settle{std::chrono::minutes(2)};
  std::string issuer;  // empty: every PatientID is the hospital's
};

// The path an instance has in the manifest and at the central:
// <patient>/<StudyInstanceUID>/<SOPInstanceUID>.dcm, the patient folder
// percent-encoded where the ID holds more than letters, digits, '-', '_'
// and inner dots ("_unidentified" when there is none).
[[nodiscard]] std::string instance_path(std::string_view patient_id, const InstanceFacts& facts);
[[nodiscard]] std::string patient_folder_name(std::string_view patient_id);

class StudyFeed final : public collectors::ChangeFeed {
 public:
  // With a poller (poll mode), each pass first stages what the PACS has new
  // while `room()` allows, then spools the settled studies.
  StudyFeed(spool::StateDb& state, std::shared_ptr<const Staging> staging, StudyFeedSettings settings,
            log::Logger logger, std::shared_ptr<OrthancPoller> poller = nullptr, std::function<bool()> room = {});

  void collect(collectors::SpoolSink& sink, collectors::PassSummary& summary) override;
  [[nodiscard]] collectors::SinkJournal& journal() override { return journal_; }

 private:
  struct Row {
    std::string sop_key;
    std::string study_key;
    std::string sha256;
  };
  class Journal final : public collectors::SinkJournal {
   public:
    explicit Journal(std::string source) : source_(std::move(source)) {}
    void add(Row row, std::filesystem::path file);
    void commit(base::Database& db, std::int64_t object_seq) override;
    void discard() override;
    [[nodiscard]] bool empty() const override { return rows_.empty(); }
    // Files of committed batches, to remove from staging.
    [[nodiscard]] std::vector<std::filesystem::path> take_committed();

   private:
    std::string source_;
    std::vector<Row> rows_;
    std::vector<std::filesystem::path> files_;
    std::vector<std::filesystem::path> committed_;
  };
  struct Candidate;

  void collect_study(const Staging::Study& study, collectors::SpoolSink& sink, collectors::PassSummary& summary);
  [[nodiscard]] bool admit(const Candidate& candidate, collectors::SpoolSink& sink, collectors::PassSummary& summary);
  [[nodiscard]] std::string sent_sha256(const std::string& sop_key);
  [[nodiscard]] bool study_sent(const std::string& study_key);
  // Poll mode: stages what is new at the PACS; the failure, if any, to report after spooling.
  [[nodiscard]] std::optional<base::Error> poll();

  spool::StateDb& state_;
  std::shared_ptr<const Staging> staging_;
  StudyFeedSettings settings_;
  log::Logger logger_;
  Journal journal_;
  std::shared_ptr<OrthancPoller> poller_;
  std::function<bool()> room_;
};

}  // namespace medgw::dicom
