#include <spool/zstd_writer.hpp>

#include <new>
#include <string>
#include <system_error>

#include <zstd.h>

namespace medgw::spool {
namespace {

void check(std::size_t result) {
  if (ZSTD_isError(result) != 0U) {
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            std::string("zstd: ") + ZSTD_getErrorName(result));
  }
}

}  // namespace

ZstdWriter::ZstdWriter(base::ByteSink& out, int level, int workers)
    : out_(out), context_(ZSTD_createCCtx()), buffer_(ZSTD_CStreamOutSize()) {
  if (context_ == nullptr) throw std::bad_alloc();
  try {
    check(ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level));
  } catch (...) {
    ZSTD_freeCCtx(context_);
    throw;
  }
  // Refused by a libzstd without threads: it then compresses on this one.
  if (workers > 0) static_cast<void>(ZSTD_CCtx_setParameter(context_, ZSTD_c_nbWorkers, workers));
}

ZstdWriter::~ZstdWriter() { ZSTD_freeCCtx(context_); }

void ZstdWriter::write(base::ByteView bytes) {
  if (bytes.empty()) return;
  open_ = true;
  drive(bytes, false);
}

void ZstdWriter::end_frame() {
  if (!open_) return;
  drive({}, true);
  open_ = false;
}

void ZstdWriter::drive(base::ByteView bytes, bool end) {
  ZSTD_inBuffer input{bytes.data(), bytes.size(), 0};
  while (true) {
    ZSTD_outBuffer output{buffer_.data(), buffer_.size(), 0};
    const std::size_t left = ZSTD_compressStream2(context_, &output, &input, end ? ZSTD_e_end : ZSTD_e_continue);
    check(left);
    if (output.pos > 0) out_.write(base::ByteView(buffer_.data(), output.pos));
    // Continuing: done once the input is taken. Ending: once zstd has
    // nothing left to flush.
    if (end ? left == 0 : input.pos == input.size) return;
  }
}

}  // namespace medgw::spool
