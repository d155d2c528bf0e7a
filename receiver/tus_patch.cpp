// TusServer: PATCH. The body streams into the upload's file at its offset
// (partial bodies are kept when a connection drops, unless the PATCH carried
// Upload-Checksum, which can only be checked whole). A slow client must move
// at least min_window_bytes per idle_timeout or is cut off (the offset keeps
// what arrived). The last byte hands the upload to the Completer.
#include <receiver/tus_server_impl.hpp>

#include <receiver/files.hpp>
#include <receiver/identifiers.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>

#include <algorithm>

#include <boost/asio/redirect_error.hpp>

#include <fcntl.h>
#include <unistd.h>

// GCC 12 misreads Asio's coroutine-frame allocator (aligned_alloc released by
// the frame's sized operator delete, which frees it) as a mismatch in this
// file's larger coroutines (GCC bug 109224); nothing here allocates by hand.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace medgw::receiver {
namespace {

constexpr std::uint64_t min_window_bytes = 32 << 10;  // per idle_timeout, ~550 B/s at the default 60 s

bool write_at(int fd, const char* data, std::size_t size, std::uint64_t offset, int& error) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      error = errno;
      return false;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
    offset += static_cast<std::uint64_t>(written);
  }
  return true;
}

// Drops what a PATCH wrote past `offset`. Should that fail the bytes stay
// but are past the offset: the next PATCH writes over them.
void discard_from(int fd, std::uint64_t offset) {
  if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) return;
}

TusAnswer retry_later(std::string message, std::string_view seconds) {
  TusAnswer answer = tus_answer(503, std::move(message));
  answer.headers.emplace_back("Retry-After", std::string(seconds));
  return answer;
}

}  // namespace

asio::awaitable<BodyResult> TusServer::Impl::receive_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                          LiveUpload& upload, int fd, crypto::Sha256* checksum) {
  // 64 KiB a PATCH in progress: 200 gateways at once hold 12.5 MiB. Each read
  // returns a TLS record at most; the block is written when full. A small
  // object's last piece needs no more than its own size (nor its zeroing),
  // and one byte more: a body longer than the upload is then seen before
  // any of it is written.
  const std::uint64_t left = upload.row.length > upload.row.offset ? upload.row.length - upload.row.offset : 0;
  std::vector<char> block(static_cast<std::size_t>(std::min<std::uint64_t>(left + 1, 64 << 10)));
  BodyResult body{upload.row.offset};
  std::uint64_t window = 0;
  beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
  while (!parser.is_done() && !body.broken) {
    std::size_t filled = 0;
    while (filled < block.size() && !parser.is_done()) {
      parser.get().body().data = block.data() + filled;
      parser.get().body().size = block.size() - filled;
      boost::system::error_code ec;
      co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      const std::size_t got = block.size() - filled - parser.get().body().size;
      filled += got;
      window += got;
      if (window >= min_window_bytes) {
        window = 0;
        beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
      }
      if (ec && ec != http::error::need_buffer) {
        body.broken = true;  // what arrived is still written below
        break;
      }
    }
    if (body.at + filled > upload.row.length) {
      body.too_long = true;
      break;
    }
    if (filled == 0) continue;
    if (!write_at(fd, block.data(), filled, body.at, body.write_error)) break;
    const base::ByteView bytes(reinterpret_cast<const std::uint8_t*>(block.data()), filled);
    upload.running.update(bytes);
    if (checksum != nullptr) checksum->update(bytes);
    body.at += filled;
    upload.running.through = body.at;
  }
  co_return body;
}

asio::awaitable<TusAnswer> TusServer::Impl::patch(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                  const std::string& id, const FacilityEntry& facility) {
  const TusRequest request = tus_request(parser);
  PatchPlan plan = protocol.begin_patch(request, id, facility);
  if (plan.answer) {
    // Nothing is written, whatever the body holds.
    if (!co_await drain(stream, buffer, parser, 64 << 10)) plan.answer->close = true;
    co_return *plan.answer;
  }
  if (config.inject_503_every != 0 && ++patches % config.inject_503_every == 0) {
    // For fault-injection tests of gateways: the body is read whole first.
    if (!co_await drain(stream, buffer, parser, UINT64_MAX)) co_return tus_answer(400);
    logger.info("receiver.fault_injected", "answered a PATCH with 503 (inject_503_every)", {});
    co_return retry_later("injected fault", "1");
  }
  LiveUpload& upload = *plan.upload;  // stays: busy uploads are neither expired nor terminated
  upload.busy = true;
  struct Release {  // by ID: the upload may be dropped meanwhile (refused, gone)
    TusProtocol& protocol;
    const std::string& id;
    ~Release() {
      if (LiveUpload* live = protocol.find(id)) live->busy = false;
    }
  } release{protocol, id};
  const std::uint64_t start = upload.row.offset;
  const auto partial = partial_upload_file(config.data_dir, id);
  UniqueFd fd(partial ? ::open(partial->c_str(), O_WRONLY | O_CLOEXEC) : -1);
  if (!fd.valid()) {
    // The file is gone (removed by hand?): the upload cannot continue.
    protocol.drop(id);
    co_await off_loop([&] {
      completer.forget(id);
      return 0;
    });
    co_await drain(stream, buffer, parser, 64 << 10);
    TusAnswer gone = tus_answer(410, "the upload's data is gone; create a new upload");
    gone.close = true;
    co_return gone;
  }
  if (!upload.running.valid || upload.running.through != start) upload.running.invalidate();
  crypto::Sha256 chunk_hash;
  const BodyResult body = co_await receive_body(stream, buffer, parser, upload, fd.get(), plan.checksum ? &chunk_hash : nullptr);
  BodyResult written = body;
  const bool incomplete = body.broken || body.too_long || body.write_error != 0;
  if (plan.checksum && !incomplete && base::base64_encode(chunk_hash.finish(), true) != *plan.checksum) {
    // tus checksum: a body that does not match is discarded.
    discard_from(fd.get(), start);
    upload.running.invalidate();
    co_return tus_answer(460, "checksum mismatch");
  }
  if (plan.checksum && incomplete) {
    discard_from(fd.get(), start);  // cannot be checked: discarded
    written.at = start;
    upload.running.invalidate();
  }
  fd = UniqueFd();
  if (written.at != upload.row.length || incomplete) {
    // The last byte is recorded only by storing the object: HEAD never
    // reports complete an upload whose object is not stored (a body that went
    // on past the upload's length, or broke off right after its last byte,
    // leaves the offset one short; the client sends that byte again).
    const std::uint64_t reached = std::min(written.at, upload.row.length - 1);
    if (reached > start) {
      const bool recorded = co_await record_offset(id, reached);
      protocol.set_offset(upload, recorded ? reached : start);
      if (!recorded) upload.running.invalidate();
    }
    if (written.broken) {
      TusAnswer lost = tus_answer(400, "the request body ended early");  // the client is gone or too slow
      lost.close = true;
      co_return lost;
    }
    if (written.too_long) {
      TusAnswer answer = tus_answer(413, "more bytes than Upload-Length");
      answer.close = true;  // the rest of the body was not read
      co_return answer;
    }
    if (written.write_error != 0) {
      logger.error("receiver.upload_write_failed", "an upload could not be written",
                   {{"facility", facility.code}, {"reason", classify_errno(std::error_code(written.write_error, std::generic_category())).code}});
      TusAnswer answer = retry_later("the receiver cannot write the upload now; try again later", "60");
      answer.status = written.write_error == ENOSPC ? 507 : 503;
      answer.headers.emplace_back("Upload-Offset", std::to_string(upload.row.offset));
      answer.close = true;  // the rest of the body was not read
      co_return answer;
    }
    TusAnswer answer = tus_answer(204);
    answer.headers = {{"Upload-Offset", std::to_string(upload.row.offset)}, {"Upload-Expires", http_date(upload.row.expires_ms)}};
    co_return answer;
  }
  // The last byte: verify and store off the loop.
  const std::string digest =
      upload.running.valid && upload.running.hash ? base::to_hex(upload.running.hash->finish()) : std::string();
  upload.running.invalidate();
  co_return co_await complete(upload.row, facility, digest);
}

asio::awaitable<bool> TusServer::Impl::record_offset(const std::string& id, std::uint64_t offset) {
  co_return co_await off_loop([&] {
    try {
      store.set_offset(id, offset);
      return true;
    } catch (const std::exception&) {
      return false;  // the offset is a hint: the bytes are sent again
    }
  });
}

asio::awaitable<TusAnswer> TusServer::Impl::complete(Upload row, const FacilityEntry& facility, std::string digest) {
  const CompletionResult result = co_await off_loop([&] { return completer.complete(row, facility, digest); }, &completion_pool);
  co_return completed(row.id, facility, result);
}

TusAnswer TusServer::Impl::completed(const std::string& id, const FacilityEntry& facility, const CompletionResult& result) {
  LiveUpload* upload = protocol.find(id);
  switch (result.outcome) {
    case Completed::stored:
    case Completed::duplicate: {
      protocol.mark_completed(id);
      if (result.outcome == Completed::stored && landing) landing->schedule(facility.code);
      TusAnswer answer = tus_answer(204);
      if (upload != nullptr) {
        answer.headers = {{"Upload-Offset", std::to_string(upload->row.length)},
                          {"Upload-Expires", http_date(upload->row.expires_ms)}};
      }
      // The receipt as GET receipts/<id> gives it (one line of ASCII JSON),
      // saving the gateway that request; GET stays for resumed uploads.
      if (!result.receipt.empty()) answer.headers.emplace_back("Medgw-Receipt", result.receipt);
      return answer;
    }
    case Completed::busy:
      // The offset stays where it was before this PATCH: the client sends
      // its last piece again and then finds the object stored.
      return retry_later(result.message, "1");
    case Completed::failed: return retry_later(result.message, "10");
    case Completed::restart:
      protocol.drop(id);
      return tus_answer(410, result.message);
    case Completed::refused:
      protocol.drop(id);
      return tus_answer(400, result.message);
  }
  return tus_answer(500);
}

}  // namespace medgw::receiver
