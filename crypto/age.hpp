#pragma once
// age v1 (age-encryption.org/v1): X25519 recipients and scrypt passphrases,
// header HMAC, ChaCha20-Poly1305 STREAM in 64 KiB chunks. Byte-compatible
// with the age CLI in both directions; checked against the C2SP CCTV vectors.
//
// Both directions stream with one chunk of look-ahead: memory stays at a few
// chunks whatever the file size. The decryptor releases a chunk's plaintext
// only after that chunk authenticated; a file cut at a chunk boundary, or
// with bytes after its final chunk, still ends in a failure, so callers that
// must not publish a partial plaintext write to a temporary file and rename
// it on success (the CLI does).
#include <crypto/age_keys.hpp>
#include <crypto/secure_bytes.hpp>

#include <base/byte_sink.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::crypto::age {

inline constexpr std::size_t chunk_size = 64 * 1024;
inline constexpr std::size_t encrypted_chunk_size = chunk_size + 16;
inline constexpr std::size_t file_key_size = 16;
inline constexpr std::size_t nonce_size = 16;
inline constexpr int default_work_factor = 18;  // as age: ~1 s, 256 MiB
inline constexpr int max_work_factor = 22;      // refused above (as age): 4 GiB of memory
inline constexpr std::size_t max_header_size = 1 << 20;

// Every way a file can be refused, each with its own code.
enum class Error {
  // header failure
  header_malformed,     // version line, stanza syntax, base64, MAC line
  unsupported_version,  // another age-encryption.org/ version, or an armored file
  stanza_invalid,       // an X25519 or scrypt stanza with wrong arguments or sizes
  scrypt_not_alone,     // a scrypt stanza beside other stanzas
  work_factor_too_large,
  weak_share,           // an X25519 share giving the all-zero secret
  nonce_missing,        // the payload nonce is missing or short
  // no match
  no_identity_matched,
  // HMAC failure
  header_mac_mismatch,  // the header was changed (or a stanza added/removed)
  // payload failure
  no_chunks,                          // nothing after the nonce
  chunk_authentication_failed,        // a chunk before the last one was changed
  chunk_out_of_order,                 // chunks swapped or moved
  final_chunk_authentication_failed,  // the last chunk was changed, or the file was cut inside a chunk
  truncated_at_chunk_boundary,        // the file was cut where a chunk ends: no final chunk
  empty_final_chunk,                  // an empty final chunk after data
  trailing_data,                      // bytes after the final chunk
};

enum class Category { header, no_match, hmac, payload };

[[nodiscard]] Category category_of(Error error);
[[nodiscard]] std::string_view error_name(Error error);

struct Failure {
  Error code = Error::header_malformed;
  std::uint64_t chunk = 0;  // payload errors: 0-based chunk index
  std::string detail;       // never secret, never plaintext
  [[nodiscard]] std::string message() const;
};

// ---- header ---------------------------------------------------------------

struct Stanza {
  std::vector<std::string> arguments;  // arguments[0] is the type
  SecureBytes body;
};

struct Header {
  std::vector<Stanza> stanzas;
  std::array<std::uint8_t, 32> mac{};
  std::size_t mac_input_size = 0;  // header bytes up to and including "---"
  std::size_t size = 0;            // header bytes including the MAC line
};

enum class ParseStatus { complete, need_more, failed };

struct HeaderParse {
  ParseStatus status = ParseStatus::need_more;
  Header header;
  Failure failure;
};

// Parses a header at the start of `data`; need_more until the MAC line's
// newline has arrived (failed when `at_end` and it has not).
[[nodiscard]] HeaderParse parse_header(std::string_view data, bool at_end);

// The header text up to and including "---" for these stanzas.
[[nodiscard]] std::string header_text_without_mac(const std::vector<Stanza>& stanzas);

// ---- identities -------------------------------------------------------------

struct Identities {
  std::vector<X25519Identity> x25519;
  std::optional<SecureString> passphrase;
  int max_work_factor = age::max_work_factor;
};

// ---- streams ----------------------------------------------------------------

class Encryptor final : public base::ByteSink {
 public:
  // Writes the header to `out` at once.
  Encryptor(std::span<const X25519PublicKey> recipients, base::ByteSink& out);
  Encryptor(std::string_view passphrase, int work_factor, base::ByteSink& out);
  Encryptor(const Encryptor&) = delete;
  Encryptor& operator=(const Encryptor&) = delete;
  ~Encryptor() override;

  void write(ByteView plaintext) override;
  // Seals the final chunk. Nothing may be written after it.
  void finish();

 private:
  void start(const std::vector<Stanza>& stanzas, const SecureBytes& file_key, base::ByteSink& out);
  struct State;
  std::unique_ptr<State> state_;
};

class Decryptor {
 public:
  Decryptor(const Identities& identities, base::ByteSink& plaintext);
  Decryptor(const Decryptor&) = delete;
  Decryptor& operator=(const Decryptor&) = delete;
  ~Decryptor();

  // Feed the age file in pieces of any size. After a failure every call
  // returns that failure again.
  [[nodiscard]] std::optional<Failure> feed(ByteView ciphertext);
  // The end of the file: authenticates the final chunk.
  [[nodiscard]] std::optional<Failure> finish();

  [[nodiscard]] std::uint64_t plaintext_bytes() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Whole-buffer conveniences.
[[nodiscard]] std::vector<std::uint8_t> encrypt(ByteView plaintext, std::span<const X25519PublicKey> recipients);
struct DecryptResult {
  std::vector<std::uint8_t> plaintext;  // what was released (all of it on success)
  std::optional<Failure> failure;
};
[[nodiscard]] DecryptResult decrypt(ByteView ciphertext, const Identities& identities);

}  // namespace medgw::crypto::age
