#pragma once
// README.TXT at the root of a medium (IHE PDI convention): what it is, how to
// open it, who made it and when - in Japanese and English. UTF-8 with a BOM
// and CRLF line ends, so Windows Notepad shows it right.
#include <cstdint>
#include <string>

namespace medgw::media {

struct ReadmeFacts {
  std::string title;
  std::string facility;  // code and name
  std::string created;   // local time, human-readable
  std::string origin;    // "sources" or "backup"
  std::string snapshot;
  std::string medgw_version;
  std::string signer;    // ed25519:...
  bool encrypted = true;
  std::uint64_t patients = 0;
};

[[nodiscard]] std::string readme_text(const ReadmeFacts& facts);

}  // namespace medgw::media
