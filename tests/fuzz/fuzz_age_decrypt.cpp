// libFuzzer target: the streaming decryptor on arbitrary files, fed in pieces
// whose sizes come from the input itself. Identities: the CCTV X25519 key and
// the passphrase "password" (work factors above 10 are refused, to stay fast).
// Whole and piecewise decryption must agree.
#include <crypto/age.hpp>

#include <base/byte_sink.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>

namespace {

const medgw::crypto::age::Identities& identities() {
  static const medgw::crypto::age::Identities ids = [] {
    medgw::crypto::age::Identities out;
    out.x25519.push_back(*medgw::crypto::parse_identity(
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"));
    out.passphrase = medgw::base::SecureString("password");
    out.max_work_factor = 10;
    return out;
  }();
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace medgw::crypto;
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] * 37;  // 1 .. 9436 bytes per feed
  const ByteView file(data + 1, size - 1);

  const age::DecryptResult whole = age::decrypt(file, identities());

  medgw::base::MemorySink sink;
  age::Decryptor decryptor(identities(), sink);
  std::optional<age::Failure> failure;
  for (std::size_t at = 0; at < file.size() && !failure; at += piece) {
    failure = decryptor.feed(file.subspan(at, std::min(piece, file.size() - at)));
  }
  if (!failure) failure = decryptor.finish();

  if (failure.has_value() != whole.failure.has_value()) std::abort();
  if (failure && failure->code != whole.failure->code) std::abort();
  if (sink.data != whole.plaintext) std::abort();
  return 0;
}
