#pragma once
// zstd compression into a byte sink, frame by frame. A zstd stream may hold
// several frames back to back and every decoder (libarchive, `zstd -d`) gives
// their contents back to back, so a frame compressed elsewhere can be copied
// into the stream between two frames of this writer (object_builder.cpp does,
// with a large file's frame compressed while it was read: content_spill.hpp).
#include <base/byte_sink.hpp>

#include <vector>

struct ZSTD_CCtx_s;

namespace medgw::spool {

// The level of every object's compression (and of the frames spilled for them).
inline constexpr int object_zstd_level = 3;

class ZstdWriter final : public base::ByteSink {
 public:
  // `workers` > 0 compresses on that many threads of zstd's own, beside the
  // caller (where libzstd was built without them: on the caller's).
  ZstdWriter(base::ByteSink& out, int level, int workers);
  ZstdWriter(const ZstdWriter&) = delete;
  ZstdWriter& operator=(const ZstdWriter&) = delete;
  ~ZstdWriter() override;

  // Throws std::system_error (EIO) when zstd fails, and whatever `out` throws.
  void write(base::ByteView bytes) override;
  // Ends the frame in progress and hands all of it to `out`; nothing when no
  // byte went in since the last end.
  void end_frame();

 private:
  void drive(base::ByteView bytes, bool end);

  base::ByteSink& out_;
  ZSTD_CCtx_s* context_ = nullptr;
  std::vector<std::uint8_t> buffer_;
  bool open_ = false;  // a frame has input not yet ended
};

}  // namespace medgw::spool
