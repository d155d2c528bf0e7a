#pragma once
// Where the media's files go: a folder (`dir`, for USB sticks), or an ISO 9660
// image or a zip archive written with libarchive. Paths are '/'-separated and
// relative to the media root. The output appears only on commit(): a folder is
// built beside its target and renamed into place, an image is an AtomicFile;
// dropped without commit(), nothing is left behind.
#include <base/byte_sink.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace medgw::media {

enum class MediaFormat { iso, zip, dir };

struct SinkOptions {
  std::filesystem::path target;
  std::filesystem::path work_dir;  // private scratch space (staged streams)
  MediaFormat format = MediaFormat::iso;
  bool clear_data = false;         // holds patient data in clear: files 0600, folders 0700
  bool replace = false;            // --force: replace an earlier medgw media at `target`
  std::string volume_id;           // ISO volume identifier (no patient data)
};

// A file written as a stream whose size is known only at its end (the raw
// storage's tar+age, the manifest). Its entry is complete once closed.
class StreamedFile : public base::ByteSink {
 public:
  virtual void close() = 0;
};

class MediaSink {
 public:
  virtual ~MediaSink() = default;
  // A file whose content is at hand. `mtime_s`: seconds since the epoch.
  virtual void add(std::string_view path, std::string_view content, std::int64_t mtime_s) = 0;
  // A file written as a stream; other files may be added while it is open.
  [[nodiscard]] virtual std::unique_ptr<StreamedFile> open_stream(std::string_view path, std::int64_t mtime_s) = 0;
  // Publishes the media at its target (renames into place).
  virtual void commit() = 0;
  // Problems met while writing that did not stop it (counted, no path).
  [[nodiscard]] virtual std::uint64_t names_not_representable() const { return 0; }
};

// Throws std::runtime_error naming the target and what to do when it cannot
// be written (exists and is not an earlier media, no permission...).
[[nodiscard]] std::unique_ptr<MediaSink> open_media_sink(const SinkOptions& options);
[[nodiscard]] std::unique_ptr<MediaSink> open_archive_sink(const SinkOptions& options);

// Whether `target` may be written: absent, an empty folder, or (with
// `replace`) an earlier medgw media (a folder holding MANIFEST.JSON, or a
// file). The message says why not and what to do.
[[nodiscard]] std::string target_problem(const std::filesystem::path& target, MediaFormat format, bool replace);

}  // namespace medgw::media
