// libFuzzer target: the SS-MIX2 profiles on arbitrary input. The first line
// is the relative path, the rest the file's content (hostile bytes from a
// hospital's storage: broken ISO-2022-JP, junk segments, odd delimiters). It
// must never crash, hang or read out of bounds, and the meta must stay one
// JSON object.
#include <collectors/ssmix2_profile.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace medgw::collectors;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view path = input.substr(0, newline);
  const std::string_view content = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  static const Ssmix2StandardProfile standard;
  static const Ssmix2ExtendedProfile extended;
  for (const SourceProfile* profile : {static_cast<const SourceProfile*>(&standard), static_cast<const SourceProfile*>(&extended)}) {
    for (const Analysis& analysis : {profile->analyze(path, content), profile->analyze(path, std::nullopt)}) {
      const std::string& meta = analysis.meta_json;
      if (meta.empty() || meta.front() != '{' || meta.back() != '}') std::abort();
      if (analysis.anomalies >> anomaly_count != 0) std::abort();
    }
  }
  return 0;
}
