#pragma once
// The browser viewer (daemon/media/viewer/), embedded into the binary at build
// time by embed_viewer.cmake.
#include <span>
#include <string_view>

namespace medgw::media {

struct ViewerAsset {
  std::string_view name;     // file name in viewer/ ("index.htm", "app.js"...)
  std::string_view content;  // its bytes
};

[[nodiscard]] std::span<const ViewerAsset> viewer_assets();

}  // namespace medgw::media
