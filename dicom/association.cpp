#include <dicom/association.hpp>

#include <dicom/instance.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace medgw::dicom {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t request_limit = 64U << 10;
constexpr std::size_t command_limit = 64U << 10;
constexpr std::chrono::seconds request_timeout{30};
constexpr std::uint64_t writeback_step = 8U << 20;

// What an SCP of storage accepts as abstract syntax: verification, the
// standard storage classes, and private (vendor) classes; not the other
// standard services (query/retrieve, worklist, commitment...).
bool storable(std::string_view uid) {
  return uid == verification_class_uid || uid.starts_with("1.2.840.10008.5.1.4.1.1.") ||
         (valid_uid(uid) && !uid.starts_with("1.2.840.10008."));
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

}  // namespace

Association::Association(base::UniqueFd socket, std::string peer, StoreScp::Shared& shared)
    : socket_(std::move(socket)), peer_(std::move(peer)), shared_(shared) {
  timeval send_timeout{30, 0};
  ::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  // A response is one small segment: sent at once, not held for the
  // peer's delayed ACK (Nagle would add ~40 ms per instance).
  const int one = 1;
  ::setsockopt(socket_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool Association::wait_readable(Clock::time_point deadline, Read& why) {
  for (;;) {
    if (shared_.stopping) {
      why = Read::stopping;
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      why = Read::timeout;
      return false;
    }
    pollfd ready{socket_.get(), POLLIN, 0};
    const int rc = ::poll(&ready, 1, static_cast<int>(std::min<long long>(left, 500)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) {
      why = Read::failed;
      return false;
    }
  }
}

bool Association::read_exact(char* out, std::size_t count, Clock::time_point deadline, Read& why) {
  while (count > 0) {
    if (!wait_readable(deadline, why)) return false;
    const ssize_t got = ::recv(socket_.get(), out, count, 0);
    if (got == 0) {
      why = Read::closed;
      return false;
    }
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      why = Read::failed;
      return false;
    }
    out += got;
    count -= static_cast<std::size_t>(got);
  }
  return true;
}

Association::Read Association::read_pdu(Pdu& pdu, std::uint32_t limit, std::chrono::seconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  Read why = Read::ok;
  unsigned char header[6];
  if (!read_exact(reinterpret_cast<char*>(header), sizeof header, deadline, why)) return why;
  pdu.type = static_cast<PduType>(header[0]);
  const std::uint32_t length = (std::uint32_t{header[2]} << 24) | (std::uint32_t{header[3]} << 16) |
                               (std::uint32_t{header[4]} << 8) | header[5];
  if (length > limit) return Read::too_long;
  pdu.body.resize(length);
  if (!read_exact(pdu.body.data(), length, deadline, why)) return why;
  return Read::ok;
}

bool Association::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

std::string Association::refusal(const AssociateRequest& request) const {
  const ScpSettings& settings = shared_.settings;
  if (request.application_context != application_context_uid) return "the application context is not DICOM's";
  if (request.called_ae != settings.ae_title) return "the called AE title is not ours (ae_title)";
  const bool allowed = std::any_of(settings.allow.begin(), settings.allow.end(), [&](const std::string& entry) {
    const std::size_t at = entry.find('@');
    if (at == std::string::npos) return entry == request.calling_ae;
    return entry.substr(0, at) == request.calling_ae && entry.substr(at + 1) == peer_;
  });
  if (!allowed) return "the calling AE title (from this address) is not in allow";
  return {};
}

bool Association::negotiate() {
  Pdu pdu;
  const Read read = read_pdu(pdu, request_limit, request_timeout);
  if (read == Read::closed || read == Read::stopping) return false;
  if (read != Read::ok || pdu.type != PduType::associate_rq) {
    send(abort_pdu());
    ++shared_.counters->associations_rejected;
    shared_.logger.warn("dicom.association_rejected",
                        read == Read::timeout   ? "a connection sent no association request within 30 s"
                        : read == Read::too_long ? "an association request is longer than 64 KiB"
                        : read == Read::ok       ? "a connection began with something else than an association request"
                                                 : "a connection failed before its association request",
                        {{"source", shared_.settings.source}, {"address", peer_}});
    return false;
  }
  auto request = parse_associate_rq(pdu.body);
  std::string why = request ? refusal(*request) : request.error().message;
  if (!why.empty()) {
    // PS3.8 9.3.4: 1 permanent, 1 service user; reason 1 none given,
    // 2 application context, 3 calling AE, 7 called AE.
    std::uint8_t reason = 1;
    if (request) reason = why.starts_with("the application") ? 2 : why.starts_with("the called") ? 7 : 3;
    send(associate_rj(1, 1, reason));
    ++shared_.counters->associations_rejected;
    shared_.logger.warn("dicom.association_rejected", "an association request was rejected: " + why,
                        {{"source", shared_.settings.source},
                         {"calling_ae", request ? request->calling_ae : std::string("?")},
                         {"called_ae", request ? request->called_ae : std::string("?")},
                         {"address", peer_}});
    return false;
  }
  calling_ae_ = request->calling_ae;
  std::vector<ContextAnswer> answers;
  for (const ProposedContext& proposed : request->contexts) {
    ContextAnswer answer{proposed.id, ContextResult::abstract_syntax_unsupported, {}, proposed.abstract_syntax};
    if (storable(proposed.abstract_syntax)) {
      const auto chosen = std::find_if(proposed.transfer_syntaxes.begin(), proposed.transfer_syntaxes.end(),
                                       [](const std::string& uid) { return supported_transfer_syntax(uid); });
      answer.result = chosen == proposed.transfer_syntaxes.end() ? ContextResult::transfer_syntax_unsupported
                                                                 : ContextResult::accepted;
      if (chosen != proposed.transfer_syntaxes.end()) answer.transfer_syntax = *chosen;
    }
    if (answer.result == ContextResult::accepted) {
      contexts_[answer.id] = answer;
    } else {
      ++shared_.counters->contexts_refused;
      shared_.logger.info("dicom.context_refused",
                          answer.result == ContextResult::transfer_syntax_unsupported
                              ? "no proposed transfer syntax is supported for this SOP class"
                              : "this abstract syntax is not a storage SOP class",
                          {{"source", shared_.settings.source}, {"calling_ae", calling_ae_},
                           {"sop_class", proposed.abstract_syntax.substr(0, 64)},
                           {"transfer_syntax", proposed.transfer_syntaxes.empty() ? std::string()
                                                                                  : proposed.transfer_syntaxes.front().substr(0, 64)}});
    }
    answers.push_back(std::move(answer));
  }
  if (!send(associate_ac(*request, answers, shared_.settings.max_pdu))) return false;
  ++shared_.counters->associations;
  return true;
}

void Association::run() {
  if (!negotiate()) return;
  std::uint64_t stored_before = shared_.counters->instances_stored;
  Pdu pdu;
  pdu.body.reserve(shared_.settings.max_pdu);
  for (;;) {
    const Read read = read_pdu(pdu, shared_.settings.max_pdu, shared_.settings.idle_timeout);
    switch (read) {
      case Read::ok: break;
      case Read::closed:
      case Read::failed:
        drop_file();
        if (store_) ++shared_.counters->associations_aborted;
        return;
      case Read::timeout: abort("the peer sent nothing for longer than the idle timeout"); return;
      case Read::stopping: abort("medgw is stopping"); return;
      case Read::too_long: abort("a PDU is longer than the maximum length we announced"); return;
    }
    if (pdu.type == PduType::p_data) {
      auto pdvs = parse_p_data(pdu.body);
      if (!pdvs) {
        abort(pdvs.error().message);
        return;
      }
      for (const Pdv& pdv : *pdvs) {
        if (!on_pdv(pdv)) return;
      }
      continue;
    }
    if (pdu.type == PduType::release_rq && !store_) {
      send(release_rp());
      shared_.logger.info("dicom.association_released", "an association ended",
                          {{"source", shared_.settings.source}, {"calling_ae", calling_ae_},
                           {"instances", shared_.counters->instances_stored - stored_before}});
      return;
    }
    if (pdu.type == PduType::abort) {
      drop_file();
      ++shared_.counters->associations_aborted;
      return;
    }
    abort("an unexpected PDU (type " + std::to_string(static_cast<int>(pdu.type)) + ")");
    return;
  }
}

bool Association::on_pdv(const Pdv& pdv) {
  if (!contexts_.contains(pdv.context)) {
    abort("a PDV on a presentation context that was not accepted");
    return false;
  }
  if (!pdv.command) {
    if (!store_ || store_->context != pdv.context) {
      abort("a data set without a command on its presentation context");
      return false;
    }
    return on_data(pdv);
  }
  if (store_) {
    abort("a command before the previous command's data set was complete");
    return false;
  }
  if (command_bytes_.size() + pdv.data.size() > command_limit) {
    abort("a command set is longer than 64 KiB");
    return false;
  }
  command_bytes_.append(pdv.data);
  return pdv.last ? on_command(pdv.context) : true;
}

bool Association::on_command(std::uint8_t context) {
  auto command = parse_command(command_bytes_);
  command_bytes_.clear();
  if (!command) {
    abort(command.error().message);
    return false;
  }
  Store store;
  store.context = context;
  store.command = std::move(*command);
  const std::uint16_t field = store.command.field;
  if (field == c_echo_rq) {
    ++shared_.counters->echoes;
    store.command.sop_class = std::string(verification_class_uid);
    return respond(store, status_success);
  }
  if (field != c_store_rq) {
    store.refusal = status_unrecognized_operation;
    store.refusal_comment = "medgw stores instances only (C-STORE, C-ECHO)";
  } else if (store.command.sop_class != contexts_.at(context).abstract_syntax) {
    store.refusal = status_sop_class_not_supported;
    store.refusal_comment = "the SOP class differs from its presentation context's";
  } else if (store.command.dataset_type == no_dataset) {
    return respond(store, status_cannot_understand, "a C-STORE without a data set");
  } else if (!valid_uid(store.command.sop_instance) || store.command.sop_class.empty()) {
    store.refusal = status_cannot_understand;
    store.refusal_comment = "the command's Affected SOP Instance UID is not a valid UID";
  } else if (!shared_.room()) {
    store.refusal = status_out_of_resources;
    store.refusal_comment = "medgw's spool is full; send again later";
  } else {
    try {
      store.file = shared_.staging->open_incoming();
      const std::string meta = file_meta(store.command.sop_class, store.command.sop_instance,
                                         contexts_.at(context).transfer_syntax);
      if (!write_all(store.file->fd.get(), meta)) throw std::system_error(errno, std::generic_category(), "write");
    } catch (const std::exception& e) {
      shared_.logger.error("dicom.staging_failed", std::string("cannot write a received instance: ") + e.what(),
                           {{"source", shared_.settings.source}});
      if (store.file) ::unlink(store.file->path.c_str());
      store.file.reset();
      store.refusal = status_out_of_resources;
      store.refusal_comment = "medgw cannot write the instance now";
    }
  }
  if (store.command.dataset_type == no_dataset) return respond(store, store.refusal, store.refusal_comment);
  store_ = std::move(store);
  return true;
}

bool Association::on_data(const Pdv& pdv) {
  Store& store = *store_;
  if (store.file) {
    if (write_all(store.file->fd.get(), pdv.data)) {
      // Start writing back what arrived so far (without waiting), so the
      // fdatasync before the response finds little left to write.
      const std::uint64_t written = store.bytes + pdv.data.size();
      if (written - store.flushed >= writeback_step) {
        ::sync_file_range(store.file->fd.get(), static_cast<off64_t>(store.flushed),
                          static_cast<off64_t>(written - store.flushed), SYNC_FILE_RANGE_WRITE);
        store.flushed = written;
      }
    } else {
      const int error = errno;
      drop_file();
      store.refusal = status_out_of_resources;
      store.refusal_comment = error == ENOSPC ? "medgw's disk is full; send again later" : "medgw cannot write the instance now";
    }
  }
  store.bytes += pdv.data.size();
  return pdv.last ? finish_store() : true;
}

bool Association::finish_store() {
  Store store = std::move(*store_);
  store_.reset();
  if (!store.file) {
    if (store.refusal == status_out_of_resources) {
      ++shared_.counters->refused_no_room;
    } else {
      ++shared_.counters->refused_invalid;
      shared_.logger.warn("dicom.instance_refused", "a C-STORE was refused: " + store.refusal_comment,
                          {{"source", shared_.settings.source}, {"calling_ae", calling_ae_},
                           {"status", static_cast<std::uint64_t>(store.refusal)}});
    }
    return respond(store, store.refusal, store.refusal_comment);
  }
  const std::filesystem::path path = store.file->path;
  const int fd = store.file->fd.release();
  const bool durable = ::fdatasync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  auto facts = durable && closed ? read_instance(path)
                                 : base::Result<InstanceFacts>(base::fail("unwritable", "medgw cannot write the instance now"));
  std::uint16_t status = status_success;
  std::string comment;
  if (!facts) {
    status = facts.error().code == "unwritable" ? status_out_of_resources : status_cannot_understand;
    comment = facts.error().message;
  } else if (facts->sop_instance != store.command.sop_instance || facts->sop_class != store.command.sop_class) {
    status = status_not_sop_class;
    comment = "the data set's SOP UIDs differ from the command's";
  }
  if (status == status_success) {
    try {
      shared_.staging->stage(path, *facts);
    } catch (const std::exception& e) {
      shared_.logger.error("dicom.staging_failed", std::string("cannot stage a received instance: ") + e.what(),
                           {{"source", shared_.settings.source}});
      status = status_out_of_resources;
      comment = "medgw cannot store the instance now";
    }
  }
  if (status != status_success) {
    ::unlink(path.c_str());
    if (status == status_out_of_resources) {
      ++shared_.counters->refused_no_room;
    } else {
      ++shared_.counters->refused_invalid;
      shared_.logger.warn("dicom.instance_refused", "a received instance was refused: " + comment,
                          {{"source", shared_.settings.source}, {"calling_ae", calling_ae_},
                           {"reason", facts ? std::string("uid_mismatch") : facts.error().code}});
    }
    return respond(store, status, comment);
  }
  ++shared_.counters->instances_stored;
  shared_.counters->bytes_stored += facts->size;
  return respond(store, status_success);
}

bool Association::respond(const Store& store, std::uint16_t status, std::string comment) {
  Command response;
  response.field = static_cast<std::uint16_t>(store.command.field | 0x8000U);
  response.responded_to = store.command.message_id;
  response.dataset_type = no_dataset;
  response.status = status;
  response.sop_class = store.command.sop_class;
  response.sop_instance = store.command.sop_instance;
  if (status != status_success) response.error_comment = std::move(comment);
  if (send(p_data(store.context, true, true, encode_command(response)))) return true;
  ++shared_.counters->associations_aborted;
  return false;
}

void Association::abort(std::string_view why) {
  send(abort_pdu());
  drop_file();
  ++shared_.counters->associations_aborted;
  shared_.logger.warn("dicom.association_aborted", "an association was aborted: " + std::string(why),
                      {{"source", shared_.settings.source}, {"calling_ae", calling_ae_}, {"address", peer_}});
}

void Association::drop_file() {
  if (store_ && store_->file) {
    ::unlink(store_->file->path.c_str());
    store_->file.reset();
  }
}

}  // namespace medgw::dicom
