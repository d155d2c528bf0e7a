// TusServer: the backup endpoint (receiver/backup_area.hpp), beside tus on
// the same mutual-TLS listener: <backup.path><name> of the facility whose
// certificate this is. GET (config and pack lists: clear), HEAD (exists,
// Backup-Size), PUT (write once; a lease renews), DELETE (a run's lease
// only). Bodies stream to a temporary file in the facility's repository;
// the quota is checked before the body is taken.
#include <receiver/tus_server_impl.hpp>


#include <boost/asio/redirect_error.hpp>

#include <cerrno>

// GCC 12 misreads Asio's coroutine-frame allocator (see tus_patch.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace medgw::receiver {
namespace {

constexpr std::uint64_t min_window_bytes = 32 << 10;  // per idle_timeout, as for PATCH

// The largest file of each kind a gateway sends (a pack is ~16-32 MiB plus
// one chunk of at most 4 MiB; a snapshot of millions of files is large).
std::uint64_t largest(BackupName kind) {
  switch (kind) {
    case BackupName::pack: return 64ULL << 20;
    case BackupName::snapshot: return 8ULL << 30;
    case BackupName::pack_list: return 64ULL << 20;
    default: return 1ULL << 20;
  }
}

std::string_view kind_text(BackupName kind) {
  switch (kind) {
    case BackupName::config: return "config";
    case BackupName::key: return "key";
    case BackupName::pack: return "pack";
    case BackupName::pack_list: return "pack_list";
    case BackupName::snapshot: return "snapshot";
    case BackupName::lease: return "lease";
  }
  return "?";
}

}  // namespace

asio::awaitable<TusAnswer> TusServer::Impl::backup(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                   const FacilityEntry& facility) {
  const std::string target(parser.get().target());
  const std::string name = target.substr(config.backup_path.size());
  const auto method = parser.get().method();
  const auto kind = backup_name_kind(name);
  if (backup_area && kind && method == http::verb::put && *kind != BackupName::lease) {
    co_return co_await backup_put(stream, buffer, parser, facility, name, *kind);
  }
  const bool drained = co_await drain(stream, buffer, parser, 64 << 10);
  TusAnswer answer;
  if (!backup_area) {
    answer = tus_answer(404, "this central keeps no backups (receiver.yaml backup.dir is not set)");
  } else if (!kind) {
    answer = tus_answer(404, "not a name of the backup repository's layout");
  } else if (method == http::verb::head) {
    const auto size = co_await off_loop([&] { return backup_area->size_of(facility.code, name); });
    answer = tus_answer(size ? 200 : 404);
    if (size) answer.headers.emplace_back("Backup-Size", std::to_string(*size));
  } else if (method == http::verb::get && (*kind == BackupName::config || *kind == BackupName::pack_list)) {
    auto text = co_await off_loop([&] { return backup_area->read_clear(facility.code, name); });
    answer = text ? tus_answer(200, std::move(*text)) : tus_answer(404);
    if (text) answer.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  } else if (method == http::verb::get) {
    answer = tus_answer(403, "the backup is write-only for gateways: its encrypted parts are read with the recovery "
                             "key from the central's copy, not through this endpoint");
  } else if (method == http::verb::put && drained) {  // a lease
    const bool held = co_await off_loop([&] { return backup_area->hold_lease(facility.code, name); });
    answer = held ? tus_answer(200) : tus_answer(423, "retention is running on this facility's backup; try later");
  } else if (method == http::verb::delete_ && *kind == BackupName::lease) {
    co_await off_loop([&] {
      backup_area->drop_lease(facility.code, name);
      return 0;
    });
    answer = tus_answer(204);
  } else {
    if (const auto suppressed = may_log(refused_upload_log)) {
      logger.warn("receiver.backup_refused", "a gateway asked to change or delete a stored backup file: refused",
                  {{"facility", facility.code}, {"kind", std::string(kind_text(*kind))},
                   {"method", std::string(http::to_string(method))}, {"suppressed_before", *suppressed}});
    }
    answer = tus_answer(405, "the backup repository is write-once: files are never replaced or deleted through "
                             "this endpoint; retention runs at the central (medgw-receiver backup forget)");
    answer.headers.emplace_back("Allow", "GET, HEAD, PUT");
  }
  if (!drained) answer.close = true;
  co_return answer;
}

asio::awaitable<TusAnswer> TusServer::Impl::backup_put(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                       const FacilityEntry& facility, const std::string& name,
                                                       BackupName kind) {
  const auto length = parser.content_length();
  if (!length) {
    TusAnswer answer = tus_answer(411, "a backup file is sent with Content-Length");
    answer.close = true;
    co_return answer;
  }
  if (*length > largest(kind)) {
    TusAnswer answer = tus_answer(413, "larger than any " + std::string(kind_text(kind)) + " a gateway writes");
    answer.close = true;
    co_return answer;
  }
  const std::uint64_t used = co_await off_loop([&] { return backup_area->used(facility.code); });
  if (used + *length > backup_area->quota()) {
    if (const auto suppressed = may_log(limit_log)) {
      logger.warn("receiver.backup_quota", "a facility's backup reached its quota (receiver.yaml backup.quota)",
                  {{"facility", facility.code}, {"used", used}, {"quota", backup_area->quota()},
                   {"suppressed_before", *suppressed}});
    }
    const bool drained = co_await drain(stream, buffer, parser, *length);
    TusAnswer answer = tus_answer(507, "this facility's backup area is full (its quota); retention or a larger "
                                       "quota at the central makes room");
    answer.close = !drained;
    co_return answer;
  }
  std::unique_ptr<backup::NewFile> file;
  try {
    file = co_await off_loop([&] { return backup_area->receive(facility.code); });
  } catch (const std::system_error&) {
    file.reset();
  }
  if (!file) {
    logger.error("receiver.backup_unwritable", "the backup area cannot take a file (disk or permissions)",
                 {{"facility", facility.code}});
    TusAnswer answer = tus_answer(503, "the central cannot store backup files now; try again later");
    answer.headers.emplace_back("Retry-After", "60");
    answer.close = true;
    co_return answer;
  }
  std::vector<char> block(64 << 10);
  std::uint64_t window = 0;
  int write_error = 0;
  beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
  while (!parser.is_done()) {
    parser.get().body().data = block.data();
    parser.get().body().size = block.size();
    boost::system::error_code ec;
    co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != http::error::need_buffer) co_return tus_answer(400, "the body broke off");  // connection gone
    const std::size_t got = block.size() - parser.get().body().size;
    if (write_error == 0 && got > 0) {
      try {
        file->write(base::ByteView(reinterpret_cast<const std::uint8_t*>(block.data()), got));
      } catch (const std::system_error& error) {
        write_error = error.code().value();
      }
    }
    window += got;
    if (window >= min_window_bytes) {
      window = 0;
      beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
    }
  }
  if (write_error != 0) {
    TusAnswer answer = write_error == ENOSPC || write_error == EDQUOT
                           ? tus_answer(507, "the central's backup disk is full; try again later")
                           : tus_answer(503, "the central could not write the file; try again later");
    logger.error("receiver.backup_unwritable", "a backup file could not be written",
                 {{"facility", facility.code}, {"errno", static_cast<std::int64_t>(write_error)}});
    co_return answer;
  }
  BackupArea::Stored stored = BackupArea::Stored::conflict;
  int store_error = 0;
  stored = co_await off_loop([&] {
    try {
      return backup_area->store(facility.code, name, *file);
    } catch (const std::system_error& error) {
      store_error = error.code().value();
      return BackupArea::Stored::conflict;
    }
  });
  if (store_error != 0) {
    logger.error("receiver.backup_unwritable", "a backup file could not be stored",
                 {{"facility", facility.code}, {"errno", static_cast<std::int64_t>(store_error)}});
    co_return store_error == ENOSPC || store_error == EDQUOT
        ? tus_answer(507, "the central's backup disk is full; try again later")
        : tus_answer(503, "the central could not store the file; try again later");
  }
  if (stored == BackupArea::Stored::conflict) {
    logger.warn("receiver.backup_refused", "a gateway sent other bytes under a stored backup file's name: refused",
                {{"facility", facility.code}, {"kind", std::string(kind_text(kind))}});
    co_return tus_answer(409, "this name holds other bytes; backup files are written once");
  }
  if (kind == BackupName::snapshot && stored == BackupArea::Stored::created) {
    logger.info("receiver.backup_snapshot", "a facility's backup snapshot is stored", {{"facility", facility.code}});
  }
  co_return tus_answer(stored == BackupArea::Stored::created ? 201 : 200);
}

}  // namespace medgw::receiver
