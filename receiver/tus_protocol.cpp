#include <receiver/tus_protocol.hpp>

#include <receiver/identifiers.hpp>
#include <receiver/object_claim.hpp>

#include <ctime>

namespace medgw::receiver {
namespace {

TusAnswer with_header(TusAnswer answer, std::string name, std::string value) {
  answer.headers.emplace_back(std::move(name), std::move(value));
  return answer;
}

TusAnswer not_found() { return tus_answer(404); }

}  // namespace

const std::string* TusAnswer::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

TusAnswer tus_answer(unsigned status, std::string body) {
  TusAnswer answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

std::string http_date(std::int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

TusProtocol::TusProtocol(const ReceiverConfig& config, GatewaySignatures& signatures)
    : config_(config), signatures_(signatures) {}

void TusProtocol::load(std::vector<Upload> uploads) {
  for (Upload& upload : uploads) {
    LiveUpload live;
    live.row = std::move(upload);
    // Bytes from before the start: the file is hashed at the end.
    if (live.row.offset != 0 || live.row.completed) live.running.invalidate();
    if (live.row.completed) live.row.metadata.clear();
    if (!live.row.completed) {
      FacilityUsage& usage = usage_[live.row.facility];
      ++usage.open_uploads;
      usage.inflight_bytes += live.row.length;
      reserved_ += live.row.length - std::min(live.row.offset, live.row.length);
    }
    std::string id = live.row.id;
    uploads_.emplace(std::move(id), std::move(live));
  }
}

TusAnswer TusProtocol::options() const {
  TusAnswer answer = tus_answer(204);
  answer.headers = {{"Tus-Version", std::string(tus_version)},
                    {"Tus-Extension", "creation,termination,checksum,expiration"},
                    {"Tus-Checksum-Algorithm", "sha256"},
                    // Not tus: tells medgw gateways that <base_path>receipts/<object_id>
                    // exists for every stored object, so a missing one is an error.
                    {"Medgw-Receipts", "1"},
                    // Likewise <base_path>erasures/<object_id>: the signed
                    // erasure receipt of an object that withdrew patients.
                    {"Medgw-Erasures", "1"},
                    {"Tus-Max-Size", std::to_string(config_.max_upload)}};
  return answer;
}

base::Result<std::pair<Upload, TusAnswer>, TusAnswer> TusProtocol::create(const TusRequest& request,
                                                                          const FacilityEntry& facility,
                                                                          std::uint64_t free_bytes, std::int64_t now_ms,
                                                                          const std::string& new_id) {
  const auto length = request.upload_length ? parse_decimal(*request.upload_length) : parse_decimal("");
  if (!length || *length == 0) return base::fail(tus_answer(400, "Upload-Length is required (a positive number)"));
  if (*length > config_.max_upload) return base::fail(tus_answer(413, "larger than Tus-Max-Size"));
  const auto claim = parse_object_claim(request.upload_metadata, facility);
  if (!claim) {
    const unsigned status = claim.error().code == "facility_mismatch" ? 403 : 400;
    return base::fail(tus_answer(status, claim.error().message));
  }
  // Only the facility's gateways may upload at all: the signature over
  // (object_id, seq, facility, sha256) is checked now, and again at the end.
  if (!signatures_.signed_by_gateway(*claim, facility)) {
    return base::fail(tus_answer(403, "the object is not signed by a gateway of this facility"));
  }
  const FacilityUsage usage = this->usage(facility.code);
  if (usage.open_uploads >= config_.max_open_uploads_per_facility) {
    return base::fail(with_header(tus_answer(429, "this facility has too many open uploads; finish or wait for them"),
                                  "Retry-After", "60"));
  }
  if (usage.inflight_bytes + *length > config_.max_inflight_bytes_per_facility) {
    return base::fail(with_header(tus_answer(429, "this facility has too many bytes in flight; finish the open uploads"),
                                  "Retry-After", "60"));
  }
  const std::uint64_t reserved = reserved_bytes();
  if (free_bytes < config_.min_free || free_bytes - config_.min_free < reserved || free_bytes - config_.min_free - reserved < *length) {
    return base::fail(with_header(tus_answer(507, "the receiver is short of disk space; try again later"),
                                  "Retry-After", "300"));
  }
  Upload upload;
  upload.id = new_id;
  upload.facility = facility.code;
  upload.length = *length;
  upload.metadata = request.upload_metadata;
  upload.expires_ms = now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(config_.expiration).count();
  upload.object_id = claim->object_id;
  upload.seq = claim->seq;
  LiveUpload live;
  live.row = upload;
  uploads_.emplace(upload.id, std::move(live));
  FacilityUsage& counted = usage_[facility.code];
  ++counted.open_uploads;
  counted.inflight_bytes += upload.length;
  reserved_ += upload.length;
  TusAnswer answer = tus_answer(201);
  answer.headers = {{"Location", config_.base_path + upload.id}, {"Upload-Expires", http_date(upload.expires_ms)}};
  return std::pair{std::move(upload), std::move(answer)};
}

TusAnswer TusProtocol::head(std::string_view id, const FacilityEntry& facility) const {
  const auto found = uploads_.find(id);
  if (found == uploads_.end() || found->second.row.facility != facility.code) return not_found();
  const Upload& row = found->second.row;
  TusAnswer answer = tus_answer(200);
  answer.headers = {{"Upload-Offset", std::to_string(row.completed ? row.length : row.offset)},
                    {"Upload-Length", std::to_string(row.length)},
                    {"Upload-Expires", http_date(row.expires_ms)}};
  return answer;
}

PatchPlan TusProtocol::begin_patch(const TusRequest& request, std::string_view id, const FacilityEntry& facility) {
  PatchPlan plan;
  const auto found = uploads_.find(id);
  if (found == uploads_.end() || found->second.row.facility != facility.code) {
    plan.answer = not_found();
    return plan;
  }
  LiveUpload& upload = found->second;
  if (request.content_type != "application/offset+octet-stream") {
    plan.answer = tus_answer(415, "Content-Type must be application/offset+octet-stream");
    return plan;
  }
  const auto offset = request.upload_offset ? parse_decimal(*request.upload_offset) : parse_decimal("");
  const std::uint64_t current = upload.row.completed ? upload.row.length : upload.row.offset;
  if (!offset || *offset != current) {
    plan.answer = with_header(tus_answer(409, "Upload-Offset does not match"), "Upload-Offset", std::to_string(current));
    return plan;
  }
  if (upload.row.completed) {
    // Stored already: nothing more is written, whatever comes.
    if (request.content_length != std::uint64_t{0}) {
      plan.answer = tus_answer(413, "the upload is complete; more bytes than Upload-Length");
      plan.answer->close = !request.content_length;
    } else {
      plan.answer = with_header(tus_answer(204), "Upload-Offset", std::to_string(current));
    }
    return plan;
  }
  if (request.upload_checksum) {
    if (!request.upload_checksum->starts_with("sha256 ")) {
      plan.answer = tus_answer(400, "only sha256 checksums are supported");
      return plan;
    }
    plan.checksum = request.upload_checksum->substr(7);
  }
  if (request.content_length && *request.content_length > upload.row.length - upload.row.offset) {
    plan.answer = tus_answer(413, "more bytes than Upload-Length");
    return plan;
  }
  if (upload.busy) {
    plan.answer = tus_answer(423, "another PATCH of this upload is in progress");
    return plan;
  }
  plan.upload = &upload;
  return plan;
}

TusAnswer TusProtocol::terminate(std::string_view id, const FacilityEntry& facility) {
  const auto found = uploads_.find(id);
  if (found == uploads_.end() || found->second.row.facility != facility.code) return not_found();
  if (found->second.busy) return tus_answer(423, "a PATCH of this upload is in progress");
  return tus_answer(204);
}

void TusProtocol::mark_completed(const std::string& id) {
  const auto found = uploads_.find(id);
  if (found == uploads_.end() || found->second.row.completed) return;
  Upload& row = found->second.row;
  if (auto usage = usage_.find(row.facility); usage != usage_.end()) {
    --usage->second.open_uploads;
    usage->second.inflight_bytes -= row.length;
    if (usage->second.open_uploads == 0) usage_.erase(usage);
  }
  reserved_ -= row.length - std::min(row.offset, row.length);
  row.completed = true;
  row.offset = row.length;
  // Kept only for HEAD until it expires: no hash context, no metadata.
  found->second.running.invalidate();
  row.metadata.clear();
  row.metadata.shrink_to_fit();
}

void TusProtocol::drop(const std::string& id) {
  mark_completed(id);  // releases its place in the counts
  uploads_.erase(id);
}

LiveUpload* TusProtocol::find(std::string_view id) {
  const auto found = uploads_.find(id);
  return found == uploads_.end() ? nullptr : &found->second;
}

std::vector<std::string> TusProtocol::expired(std::int64_t now_ms) const {
  std::vector<std::string> ids;
  for (const auto& [id, upload] : uploads_) {
    if (upload.row.expires_ms < now_ms && !upload.busy) ids.push_back(id);
  }
  return ids;
}

FacilityUsage TusProtocol::usage(const std::string& facility) const {
  const auto found = usage_.find(facility);
  return found == usage_.end() ? FacilityUsage{} : found->second;
}

void TusProtocol::set_offset(LiveUpload& upload, std::uint64_t offset) {
  Upload& row = upload.row;
  if (row.completed) return;
  offset = std::min(offset, row.length);
  reserved_ += std::min(row.offset, row.length);
  reserved_ -= offset;
  row.offset = offset;
}

std::optional<std::string> TusProtocol::upload_id_of(std::string_view target) const {
  if (!target.starts_with(config_.base_path)) return std::nullopt;
  const std::string_view id = target.substr(config_.base_path.size());
  if (!is_upload_id(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace medgw::receiver
