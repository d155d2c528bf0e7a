#pragma once
// The tus 1.0 protocol of the receiver (core, creation, termination,
// checksum, expiration) as decisions on requests, without sockets: the
// server reads a request's headers, asks TusProtocol, and either sends the
// answer or (PATCH) streams the body. Event-loop thread only.
//
// TusProtocol also keeps the live uploads (UploadRegistry): offsets, the
// running SHA-256, who is busy, and the per-facility limits (finding 6):
// open uploads and bytes in flight per facility, free space before a POST is
// accepted. Completed uploads stay until they expire so HEAD reports them
// complete (offset == length) and a gateway that crashed after the last
// PATCH never sends the object again.
#include <receiver/object_claim.hpp>
#include <receiver/receiver_config.hpp>
#include <receiver/store.hpp>

#include <crypto/hash.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace medgw::receiver {

inline constexpr std::string_view tus_version = "1.0.0";

struct TusAnswer {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after answering

  [[nodiscard]] const std::string* header(std::string_view name) const;
};

// The running SHA-256 of an upload whose bytes all went through this
// process; after a restart (or an undone completion) the file is hashed.
// The hash context exists only while bytes arrive: a completed upload kept
// for HEAD holds none.
struct RunningHash {
  std::unique_ptr<crypto::Sha256> hash;
  std::uint64_t through = 0;
  bool valid = true;

  void update(base::ByteView bytes) {
    if (!valid) return;
    if (!hash) hash = std::make_unique<crypto::Sha256>();
    hash->update(bytes);
  }
  void invalidate() {
    valid = false;
    hash.reset();
  }
};

struct LiveUpload {
  Upload row;
  bool busy = false;  // a PATCH (or its completion) is in progress
  RunningHash running;
};

struct FacilityUsage {
  std::uint64_t open_uploads = 0;    // not completed
  std::uint64_t inflight_bytes = 0;  // declared lengths of those
};

// A request's headers, as far as tus cares.
struct TusRequest {
  std::string method;  // OPTIONS, POST, HEAD, PATCH, DELETE, ...
  std::string target;
  std::string tus_resumable;
  std::optional<std::string> upload_length;
  std::string upload_metadata;
  std::optional<std::string> upload_offset;
  std::string content_type;
  std::optional<std::string> upload_checksum;
  std::optional<std::uint64_t> content_length;  // nullopt: chunked or absent
};

// What to do with a PATCH: answer now, or stream the body into `upload`.
struct PatchPlan {
  std::optional<TusAnswer> answer;
  LiveUpload* upload = nullptr;
  std::optional<std::string> checksum;  // base64 SHA-256 of the body (Upload-Checksum)
};

class TusProtocol {
 public:
  // `signatures`: shared with the Completer, which checks each claim again.
  TusProtocol(const ReceiverConfig& config, GatewaySignatures& signatures);

  // The uploads in receiver.db at start-up.
  void load(std::vector<Upload> uploads);

  [[nodiscard]] TusAnswer options() const;
  // `free_bytes`: what data_dir's file system has left. On success the
  // upload is registered (its place taken) and returned with the answer; the
  // caller persists it, then answers, or calls drop() when that failed.
  [[nodiscard]] base::Result<std::pair<Upload, TusAnswer>, TusAnswer> create(const TusRequest& request,
                                                                           const FacilityEntry& facility,
                                                                           std::uint64_t free_bytes, std::int64_t now_ms,
                                                                           const std::string& new_id);
  [[nodiscard]] TusAnswer head(std::string_view id, const FacilityEntry& facility) const;
  [[nodiscard]] PatchPlan begin_patch(const TusRequest& request, std::string_view id, const FacilityEntry& facility);
  // DELETE: the caller removes the upload's file and row after a 204.
  [[nodiscard]] TusAnswer terminate(std::string_view id, const FacilityEntry& facility);

  // The upload's object is stored (by it or another upload).
  void mark_completed(const std::string& id);
  // An open upload's offset moved (bytes written and recorded): the bytes
  // still to arrive, reserved on the disk, shrink.
  void set_offset(LiveUpload& upload, std::uint64_t offset);
  void drop(const std::string& id);
  [[nodiscard]] LiveUpload* find(std::string_view id);
  [[nodiscard]] std::vector<std::string> expired(std::int64_t now_ms) const;

  [[nodiscard]] FacilityUsage usage(const std::string& facility) const;
  // Bytes still to arrive for every open upload: reserved on the disk.
  // Kept as a running total: completed uploads stay for HEAD until they
  // expire (a day), and a sum over them at every creation grew with the
  // day's objects.
  [[nodiscard]] std::uint64_t reserved_bytes() const noexcept { return reserved_; }
  [[nodiscard]] std::size_t size() const { return uploads_.size(); }

  // The target's upload ID below base_path, if it is one (32 hex digits).
  [[nodiscard]] std::optional<std::string> upload_id_of(std::string_view target) const;

 private:
  const ReceiverConfig& config_;
  GatewaySignatures& signatures_;
  std::map<std::string, LiveUpload, std::less<>> uploads_;
  std::map<std::string, FacilityUsage, std::less<>> usage_;
  std::uint64_t reserved_ = 0;
};

[[nodiscard]] TusAnswer tus_answer(unsigned status, std::string body = {});
[[nodiscard]] std::string http_date(std::int64_t ms);

}  // namespace medgw::receiver
