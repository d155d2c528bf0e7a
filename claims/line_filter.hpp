#pragma once
// The streaming filters over DPC and UKE files: fed block by block, they
// write what is kept to `out` and hold only the current partial line, so a
// file of any size passes through in constant memory. What is kept is copied
// byte for byte: with nothing to leave out, the output is the input.
#include <cstdint>
#include <string>
#include <string_view>

namespace medgw::claims {

// What a filter left out of one file (counts only; never whose).
struct FilterCounts {
  std::uint64_t removed = 0;  // DPC rows / UKE receipts of a patient removed (opted out, withdrawn)
  std::uint64_t held = 0;     // left out for now (the gateway's notice period, a "late rows" copy)
  [[nodiscard]] bool changed() const noexcept { return removed != 0 || held != 0; }
};

class StreamFilter {
 public:
  virtual ~StreamFilter() = default;
  virtual void feed(std::string_view bytes, std::string& out) = 0;
  // Writes what the end of the file still produces (a last line without a
  // line end, a recomputed GO).
  virtual void finish(std::string& out) = 0;
  [[nodiscard]] const FilterCounts& counts() const noexcept { return counts_; }

 protected:
  FilterCounts counts_;
};

// Splits the stream into lines that keep their terminator; a last piece
// without a line end (a 0x1A, or a line cut off) comes out at finish().
class LineFilter : public StreamFilter {
 public:
  void feed(std::string_view bytes, std::string& out) final;
  void finish(std::string& out) final;

 protected:
  // `line` ends with its "\n" (or "\r\n"), except a last piece.
  virtual void on_line(std::string_view line, std::string& out) = 0;
  virtual void on_end(std::string& out) { (void)out; }
  // The line without its terminator.
  [[nodiscard]] static std::string_view content_of(std::string_view line) noexcept;
  // Where the line given to on_line() starts in the input (bytes fed before it).
  [[nodiscard]] std::uint64_t line_offset() const noexcept { return line_offset_; }

 private:
  void give(std::string_view line, std::string& out);

  std::string partial_;
  std::uint64_t line_offset_ = 0;
};

}  // namespace medgw::claims
