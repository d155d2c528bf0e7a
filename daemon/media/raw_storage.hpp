#pragma once
// The hospital's storage as it was, on the media: encrypted, one file
// SSMIX2.TAR.AGE - a pax tar of every file as <volume label>/<path> (names
// byte for byte, mtimes kept) inside age with a passphrase (scrypt)
// recipient, which the stock `age -d` and `tar -x` restore; in clear
// (--no-encrypt), the files themselves under SSMIX2/<volume label>/.
#include <daemon/media/media_sink.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace medgw::media {

inline constexpr std::string_view raw_archive_name = "SSMIX2.TAR.AGE";
inline constexpr std::string_view raw_folder_name = "SSMIX2";
// scrypt work factor of SSMIX2.TAR.AGE: 2^17 (128 MiB, ~0.5 s) keeps the
// export's peak memory under its 256 MiB target; the age CLI accepts it.
inline constexpr int raw_work_factor = 17;

class RawStorage {
 public:
  virtual ~RawStorage() = default;
  virtual void add(std::string_view label, std::string_view path, std::string_view content, std::int64_t mtime_ns) = 0;
  // Completes the archive (encrypted) - nothing may be added after it.
  virtual void finish() = 0;
  [[nodiscard]] virtual std::uint64_t names_not_portable() const { return 0; }
};

[[nodiscard]] std::unique_ptr<RawStorage> open_encrypted_raw_storage(MediaSink& sink, std::string_view passphrase,
                                                                     int work_factor = raw_work_factor);
[[nodiscard]] std::unique_ptr<RawStorage> open_clear_raw_storage(MediaSink& sink);

}  // namespace medgw::media
