#include <dicom/instance.hpp>

#include <dicom/protocol.hpp>

#include <base/unique_fd.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::dicom {
namespace {

using base::fail;

constexpr std::uint32_t undefined_length = 0xFFFFFFFFU;
constexpr std::uint32_t item_tag = 0xFFFEE000U;
constexpr std::uint32_t item_end_tag = 0xFFFEE00DU;
constexpr std::uint32_t sequence_end_tag = 0xFFFEE0DDU;
constexpr std::uint32_t pixel_data_tag = 0x7FE00010U;
constexpr int max_depth = 16;

constexpr std::array encapsulated_syntaxes{
    std::string_view("1.2.840.10008.1.2.5"),        // RLE
    std::string_view("1.2.840.10008.1.2.4.50"),     // JPEG baseline
    std::string_view("1.2.840.10008.1.2.4.51"),     // JPEG extended
    std::string_view("1.2.840.10008.1.2.4.57"),     // JPEG lossless
    std::string_view("1.2.840.10008.1.2.4.70"),     // JPEG lossless SV1
    std::string_view("1.2.840.10008.1.2.4.80"),     // JPEG-LS lossless
    std::string_view("1.2.840.10008.1.2.4.81"),     // JPEG-LS near-lossless
    std::string_view("1.2.840.10008.1.2.4.90"),     // JPEG 2000 lossless
    std::string_view("1.2.840.10008.1.2.4.91"),     // JPEG 2000
    std::string_view("1.2.840.10008.1.2.4.100"),    // MPEG2
    std::string_view("1.2.840.10008.1.2.4.102"),    // MPEG-4
    std::string_view("1.2.840.10008.1.2.4.103"),
    std::string_view("1.2.840.10008.1.2.4.201"),    // HTJ2K lossless
    std::string_view("1.2.840.10008.1.2.4.202"),
    std::string_view("1.2.840.10008.1.2.4.203"),
};

// VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
bool long_vr(char a, char b) {
  static constexpr std::array<std::array<char, 2>, 13> long_vrs{{{'O', 'B'}, {'O', 'D'}, {'O', 'F'}, {'O', 'L'},
                                                                 {'O', 'V'}, {'O', 'W'}, {'S', 'Q'}, {'S', 'V'},
                                                                 {'U', 'C'}, {'U', 'N'}, {'U', 'R'}, {'U', 'T'},
                                                                 {'U', 'V'}}};
  return std::any_of(long_vrs.begin(), long_vrs.end(), [&](const auto& vr) { return vr[0] == a && vr[1] == b; });
}

// Buffered reads over a file with seeks for skipped values.
class Reader {
 public:
  Reader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}

  [[nodiscard]] std::uint64_t position() const noexcept { return position_; }
  [[nodiscard]] std::uint64_t remaining() const noexcept { return size_ - position_; }

  // False when the file ends first; an I/O error throws.
  bool read(char* out, std::size_t count) {
    if (remaining() < count) return false;
    while (count > 0) {
      if (begin_ == end_) fill();
      const std::size_t take = std::min(count, end_ - begin_);
      std::memcpy(out, buffer_.data() + begin_, take);
      begin_ += take;
      out += take;
      count -= take;
      position_ += take;
    }
    return true;
  }
  bool skip(std::uint64_t count) {
    if (remaining() < count) return false;
    const std::uint64_t buffered = end_ - begin_;
    if (count <= buffered) {
      begin_ += count;
    } else {
      begin_ = end_ = 0;
      if (::lseek(fd_, static_cast<off_t>(position_ + count), SEEK_SET) < 0) throw std::system_error(errno, std::generic_category());
    }
    position_ += count;
    return true;
  }

 private:
  void fill() {
    const ssize_t got = ::read(fd_, buffer_.data(), buffer_.size());
    if (got < 0) throw std::system_error(errno, std::generic_category());
    if (got == 0) throw std::runtime_error("the file shrank while it was read");
    begin_ = 0;
    end_ = static_cast<std::size_t>(got);
  }

  int fd_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;
  std::array<char, 64 << 10> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

std::uint16_t le16(const char* bytes) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[0]) | (static_cast<unsigned char>(bytes[1]) << 8));
}
std::uint32_t le32(const char* bytes) { return le16(bytes) | (std::uint32_t{le16(bytes + 2)} << 16); }

struct Header {
  std::uint32_t tag = 0;
  std::uint32_t length = 0;
  bool sequence = false;  // SQ, or a value of undefined length (followed item by item)
};

std::string tag_text(std::uint32_t tag) {
  char text[12];
  std::snprintf(text, sizeof text, "(%04X,%04X)", tag >> 16, tag & 0xFFFF);
  return text;
}

class Walker {
 public:
  Walker(Reader& reader, bool explicit_vr, InstanceFacts& facts) : in_(reader), explicit_(explicit_vr), facts_(facts) {}

  base::Status dataset() { return elements(0, nullptr); }

 private:
  base::Result<Header> header() {
    char raw[8];
    if (!in_.read(raw, 8)) return fail("truncated", "the data set ends inside an element header");
    Header h;
    h.tag = (std::uint32_t{le16(raw)} << 16) | le16(raw + 2);
    if ((h.tag >> 16) == 0xFFFE || !explicit_) {
      h.length = le32(raw + 4);
      h.sequence = h.length == undefined_length;
      return h;
    }
    const char a = raw[4];
    const char b = raw[5];
    if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z') {
      return fail("bad_structure", "element " + tag_text(h.tag) + " has no valid value representation");
    }
    if (long_vr(a, b)) {
      char length[4];
      if (!in_.read(length, 4)) return fail("truncated", "the data set ends inside an element header");
      h.length = le32(length);
      h.sequence = (a == 'S' && b == 'Q') || h.length == undefined_length;
    } else {
      h.length = le16(raw + 6);
    }
    return h;
  }

  // Elements until the end of the file (depth 0), `end` bytes, or the
  // item delimiter (an item of undefined length).
  base::Status elements(int depth, const std::uint64_t* end) {
    while (end != nullptr ? in_.position() < *end : in_.remaining() > 0) {
      auto h = header();
      if (!h) return fail(h.error());
      if (h->tag == item_end_tag) {
        if (end != nullptr || depth == 0) return fail("bad_structure", "an item delimiter outside an item");
        return {};
      }
      if ((h->tag >> 16) == 0xFFFE) return fail("bad_structure", "an item tag where an element was expected");
      if (depth == 0 && (h->tag >> 16) == 0x0002) return fail("bad_structure", "a file meta element inside the data set");
      if (h->sequence && h->length == undefined_length) {
        if (auto nested = sequence(depth + 1, h->tag); !nested) return nested;
        continue;
      }
      if (depth == 0 && h->length <= 1024 && wanted(h->tag)) {
        std::string value(h->length, '\0');
        if (!in_.read(value.data(), value.size())) return fail("truncated", "the data set ends inside " + tag_text(h->tag));
        keep(h->tag, value);
        continue;
      }
      if (!in_.skip(h->length)) return fail("truncated", "the value of " + tag_text(h->tag) + " runs past the end of the file");
    }
    if (end != nullptr && in_.position() != *end) return fail("bad_structure", "an item's elements overrun its length");
    if (end == nullptr && depth > 0) return fail("truncated", "the data set ends inside a sequence item");
    return {};
  }

  // Items of undefined-length sequence (or encapsulated pixel data) until
  // the sequence delimiter.
  base::Status sequence(int depth, std::uint32_t tag) {
    if (depth > max_depth) return fail("bad_structure", "sequences nest deeper than " + std::to_string(max_depth));
    for (;;) {
      char raw[8];
      if (!in_.read(raw, 8)) return fail("truncated", "the data set ends inside " + tag_text(tag));
      const std::uint32_t item = (std::uint32_t{le16(raw)} << 16) | le16(raw + 2);
      const std::uint32_t length = le32(raw + 4);
      if (item == sequence_end_tag) return {};
      if (item != item_tag) return fail("bad_structure", "a sequence " + tag_text(tag) + " holds something else than items");
      if (tag == pixel_data_tag) {  // encapsulated fragments: bytes, not elements
        if (length == undefined_length || !in_.skip(length)) return fail("truncated", "a pixel data fragment runs past the end of the file");
        continue;
      }
      if (length == undefined_length) {
        if (auto inner = elements(depth, nullptr); !inner) return inner;
        continue;
      }
      const std::uint64_t end = in_.position() + length;
      if (end > in_.position() + in_.remaining()) return fail("truncated", "an item of " + tag_text(tag) + " runs past the end of the file");
      if (auto inner = elements(depth, &end); !inner) return inner;
    }
  }

  static bool wanted(std::uint32_t tag) {
    switch (tag) {
      case 0x00080016: case 0x00080018: case 0x00080020: case 0x00080060: case 0x00100020:
      case 0x00100021: case 0x0020000D: case 0x0020000E: case 0x00280301: return true;
      default: return false;
    }
  }

  void keep(std::uint32_t tag, std::string_view value) {
    std::string_view text = trim_uid(value);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    std::string* into = nullptr;
    switch (tag) {
      case 0x00080016: into = &facts_.sop_class; break;
      case 0x00080018: into = &facts_.sop_instance; break;
      case 0x00080020: into = &facts_.study_date; break;
      case 0x00080060: into = &facts_.modality; break;
      case 0x00100020: into = &facts_.patient_id; break;
      case 0x00100021: into = &facts_.issuer; break;
      case 0x0020000D: into = &facts_.study_uid; break;
      case 0x0020000E: into = &facts_.series_uid; break;
      case 0x00280301: into = &facts_.burned_in_annotation; break;
      default: return;
    }
    *into = std::string(text);
  }

  Reader& in_;
  bool explicit_;
  InstanceFacts& facts_;
};

// One element of the file meta group (always explicit VR little endian);
// nullopt at the first element of another group (the data set).
base::Result<std::optional<std::pair<std::uint16_t, std::string>>> meta_element(Reader& in) {
  char raw[8];
  if (!in.read(raw, 4)) return fail("truncated", "the file ends inside the file meta group");
  if (le16(raw) != 0x0002) return std::optional<std::pair<std::uint16_t, std::string>>();
  if (!in.read(raw + 4, 4)) return fail("truncated", "the file ends inside the file meta group");
  std::uint32_t length = le16(raw + 6);
  if (long_vr(raw[4], raw[5])) {
    char wide[4];
    if (!in.read(wide, 4)) return fail("truncated", "the file ends inside the file meta group");
    length = le32(wide);
  }
  if (length > (1U << 16)) return fail("bad_structure", "a file meta element is longer than 64 KiB");
  std::string value(length, '\0');
  if (!in.read(value.data(), value.size())) return fail("truncated", "the file ends inside the file meta group");
  return std::optional(std::pair(le16(raw + 2), std::move(value)));
}

// The file meta group: its transfer syntax. It ends where its group length
// (0002,0000) says; without one, at the first element of another group.
// Returns where the data set starts.
base::Result<std::uint64_t> read_meta(Reader& in, InstanceFacts& facts) {
  char preamble[132];
  if (!in.read(preamble, sizeof preamble) || std::memcmp(preamble + 128, "DICM", 4) != 0) {
    return fail("not_dicom", "not a DICOM file: no \"DICM\" after the 128-byte preamble");
  }
  std::optional<std::uint64_t> end;
  for (;;) {
    if (end && in.position() == *end) break;
    if (end && in.position() > *end) return fail("bad_structure", "the file meta group overruns its group length");
    const std::uint64_t start = in.position();
    auto element = meta_element(in);
    if (!element) return fail(element.error());
    if (!*element) {
      if (end) return fail("bad_structure", "the file meta group is shorter than its group length");
      return start;
    }
    const auto& [number, value] = **element;
    if (number == 0x0000 && value.size() == 4 && start == 132) end = in.position() + le32(value.data());
    if (number == 0x0010) facts.transfer_syntax = std::string(trim_uid(value));
    if (in.remaining() == 0) break;
  }
  if (in.remaining() == 0) return fail("missing_identifier", "the file holds a file meta group and no data set");
  return in.position();
}

}  // namespace

bool supported_transfer_syntax(std::string_view uid) {
  return uid == implicit_le_uid || uid == explicit_le_uid ||
         std::find(encapsulated_syntaxes.begin(), encapsulated_syntaxes.end(), uid) != encapsulated_syntaxes.end();
}

base::Result<InstanceFacts> read_instance(const std::filesystem::path& file) {
  base::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) return fail("unreadable", std::string("cannot open the file: ") + std::strerror(errno));
  InstanceFacts facts;
  facts.size = static_cast<std::uint64_t>(info.st_size);
  if (facts.size == 0) return fail("empty", "the instance is empty (0 bytes)");
  try {
    Reader in(fd.get(), facts.size);
    const base::Result<std::uint64_t> start = read_meta(in, facts);
    if (!start) return fail(start.error());
    if (facts.transfer_syntax.empty()) return fail("bad_structure", "the file meta group names no transfer syntax (0002,0010)");
    if (!supported_transfer_syntax(facts.transfer_syntax)) {
      return fail("unsupported_transfer_syntax", "transfer syntax " + facts.transfer_syntax + " is not supported");
    }
    // Read the data set from its start (the meta walk read 4 bytes of it).
    if (::lseek(fd.get(), static_cast<off_t>(*start), SEEK_SET) < 0) throw std::system_error(errno, std::generic_category());
    Reader data(fd.get(), facts.size - *start);
    Walker walker(data, facts.transfer_syntax != implicit_le_uid, facts);
    if (base::Status walked = walker.dataset(); !walked) return fail(walked.error());
  } catch (const std::exception& e) {
    return fail("unreadable", std::string("reading the file failed: ") + e.what());
  }
  if (facts.sop_instance.empty() || facts.sop_class.empty()) return fail("missing_identifier", "the data set has no SOP Class or SOP Instance UID");
  if (facts.study_uid.empty()) return fail("missing_identifier", "the data set has no Study Instance UID (0020,000D)");
  if (!valid_uid(facts.sop_instance) || !valid_uid(facts.study_uid) || !valid_uid(facts.sop_class) ||
      (!facts.series_uid.empty() && !valid_uid(facts.series_uid))) {
    return fail("bad_identifier", "a UID of the data set is not 1-64 digits and dots");
  }
  return facts;
}

std::string file_meta(std::string_view sop_class, std::string_view sop_instance, std::string_view transfer_syntax) {
  std::string group;
  auto element = [&](std::uint16_t number, const char* vr, std::string value, char pad) {
    if (value.size() % 2 != 0) value.push_back(pad);
    group.push_back('\x02');
    group.push_back('\0');
    group.push_back(static_cast<char>(number & 0xFF));
    group.push_back(static_cast<char>(number >> 8));
    group.append(vr, 2);
    if (long_vr(vr[0], vr[1])) {
      group.append(2, '\0');
      const auto length = static_cast<std::uint32_t>(value.size());
      for (int shift = 0; shift < 32; shift += 8) group.push_back(static_cast<char>((length >> shift) & 0xFF));
    } else {
      group.push_back(static_cast<char>(value.size() & 0xFF));
      group.push_back(static_cast<char>(value.size() >> 8));
    }
    group.append(value);
  };
  element(0x0001, "OB", std::string("\0\1", 2), '\0');
  element(0x0002, "UI", std::string(sop_class), '\0');
  element(0x0003, "UI", std::string(sop_instance), '\0');
  element(0x0010, "UI", std::string(transfer_syntax), '\0');
  element(0x0012, "UI", std::string(implementation_class_uid), '\0');
  element(0x0013, "SH", std::string(implementation_version), ' ');
  std::string out(128, '\0');
  out.append("DICM");
  out.append("\x02\0\0\0UL\x04\0", 8);
  const auto length = static_cast<std::uint32_t>(group.size());
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((length >> shift) & 0xFF));
  out.append(group);
  return out;
}

}  // namespace medgw::dicom
