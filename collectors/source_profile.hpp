#pragma once
// What a collector knows about one kind of source: how to read a file's path
// (and, when given, its content) into manifest meta and anomalies. The
// collection pass is the same for every source; only the profile differs.
#include <collectors/anomaly.hpp>
#include <collectors/optout_filter.hpp>
#include <collectors/policy.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::collectors {

struct Analysis {
  std::string meta_json = "{}";  // goes into the encrypted manifest; may name the patient
  AnomalySet anomalies = 0;
  std::string patient_id;        // from the path; for the keyed tag in logs and the opt-out check
  std::string content_patient_id;  // the patient the content names (HL7 PID-3), when it differs
};

// Checks one file's content fed block by block (files too large to hold in
// memory are validated while they are hashed).
class ContentCheck {
 public:
  virtual ~ContentCheck() = default;
  virtual void update(std::string_view bytes) = 0;
  [[nodiscard]] virtual Analysis finish() = 0;
};

class SourceProfile {
 public:
  virtual ~SourceProfile() = default;
  // `content` is empty for entries sent without content (renames, deletions).
  [[nodiscard]] virtual Analysis analyze(std::string_view relative_path,
                                         std::optional<std::string_view> content) const = 0;
  // For a file too large to hold: a check to feed while hashing, or nullptr
  // when the profile needs only the path (then analyze(path, nullopt) runs).
  [[nodiscard]] virtual std::unique_ptr<ContentCheck> stream_check(std::string_view relative_path) const {
    (void)relative_path;
    return nullptr;
  }
  // Whether a file may not be sent at all, judged from its path alone (an
  // opted-out patient's folder, a date or month before policy.since).
  [[nodiscard]] virtual Exclusion exclusion(std::string_view relative_path, const PatientPolicy& policy) const {
    (void)relative_path;
    (void)policy;
    return Exclusion::none;
  }
  // The encounter a file's path shows (its patient and date; SS-MIX2: the
  // date folder of a visit, admission or dated order/result; an empty date
  // for undated data), for the notice period. Files of no patient: nullopt.
  [[nodiscard]] virtual std::optional<Encounter> encounter(std::string_view relative_path) const {
    (void)relative_path;
    return std::nullopt;
  }
  // The filter that leaves opted-out patients' records out of the copy that
  // is sent, or nullptr when files of this source go whole.
  [[nodiscard]] virtual std::unique_ptr<OptOutFilter> optout_filter(std::string_view relative_path,
                                                                    std::shared_ptr<const PatientPolicy> policy) const {
    (void)relative_path;
    (void)policy;
    return nullptr;
  }
  // The filter of a "late rows" copy: only the rows of `only` (patients held
  // for their notice period when the file was sent, eligible now), or nullptr
  // when this source has no rows to send late.
  [[nodiscard]] virtual std::unique_ptr<OptOutFilter> late_rows_filter(
      std::string_view relative_path, std::shared_ptr<const PatientPolicy> policy, OnlyPatients only) const {
    (void)relative_path;
    (void)policy;
    (void)only;
    return nullptr;
  }
  // The folder (a path prefix ending in '/') holding everything of one
  // patient in this source, or empty when the source is not by patient.
  [[nodiscard]] virtual std::string patient_folder(std::string_view patient_id) const {
    (void)patient_id;
    return {};
  }
  // "dpc" or "receipt" for the sources whose files hold DPC rows or receipts
  // of many patients (a withdraw names them, so the central knows which of
  // its landed trees to erase rows and receipts from); empty otherwise.
  [[nodiscard]] virtual std::string_view claims_format() const { return {}; }
};

// A profile whose whole-content analysis is its streaming check fed once.
class StreamingProfile : public SourceProfile {
 public:
  [[nodiscard]] Analysis analyze(std::string_view relative_path,
                                 std::optional<std::string_view> content) const override {
    if (!content) return analyze_path(relative_path);
    auto check = stream_check(relative_path);
    check->update(*content);
    return check->finish();
  }
  [[nodiscard]] std::unique_ptr<ContentCheck> stream_check(std::string_view relative_path) const override = 0;

 protected:
  [[nodiscard]] virtual Analysis analyze_path(std::string_view relative_path) const = 0;
};

}  // namespace medgw::collectors
