// age: recipient stanzas, header MAC, and the STREAM payload in both directions.
#include <crypto/aead.hpp>
#include <crypto/age.hpp>
#include <crypto/hash.hpp>
#include <crypto/random.hpp>
#include <crypto/x25519.hpp>

#include <base/base64.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace medgw::crypto::age {
namespace {

constexpr std::string_view x25519_label = "age-encryption.org/v1/X25519";
constexpr std::string_view scrypt_label = "age-encryption.org/v1/scrypt";
constexpr std::array<std::uint8_t, aead_nonce_size> zero_nonce{};
constexpr std::uint64_t reorder_window = 16;

using StreamNonce = std::array<std::uint8_t, aead_nonce_size>;

StreamNonce stream_nonce(std::uint64_t counter, bool last) {
  StreamNonce nonce{};  // 11-byte big-endian counter, then the last-chunk flag
  for (int i = 0; i < 8; ++i) nonce[static_cast<std::size_t>(10 - i)] = static_cast<std::uint8_t>(counter >> (8 * i));
  nonce[11] = last ? 1 : 0;
  return nonce;
}

SecureBytes concat(ByteView a, ByteView b) {
  SecureBytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

SecureBytes wrap_file_key(ByteView wrap_key, ByteView file_key) {
  ChaCha20Poly1305 aead(wrap_key);
  SecureBytes body(file_key.size() + aead_tag_size);
  aead.seal(zero_nonce, file_key, body.data());
  return body;
}

// The file key, or nullopt when the body does not authenticate (no match).
std::optional<SecureBytes> unwrap_file_key(ByteView wrap_key, ByteView body) {
  ChaCha20Poly1305 aead(wrap_key);
  SecureBytes file_key(file_key_size);
  if (body.size() != file_key_size + aead_tag_size || !aead.open(zero_nonce, body, file_key.data())) return std::nullopt;
  return file_key;
}

std::optional<int> parse_work_factor(std::string_view text) {
  // Decimal, no sign, no leading zero: one value has one spelling.
  if (text.empty() || text.size() > 2 || text[0] == '0') return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > 64) return std::nullopt;
  return value;
}

std::array<std::uint8_t, 32> header_mac(ByteView file_key, std::string_view mac_input) {
  const SecureBytes key = hkdf_sha256(file_key, {}, "header", 32);
  return hmac_sha256(key, as_bytes(mac_input));
}

Failure failure(Error code, std::string detail, std::uint64_t chunk = 0) { return Failure{code, chunk, std::move(detail)}; }

// Checks the syntax of the stanza types medgw knows, whatever the identities.
std::optional<Failure> validate_stanzas(const Header& header) {
  for (const Stanza& stanza : header.stanzas) {
    const std::string& type = stanza.arguments[0];
    if (type == "X25519") {
      if (stanza.arguments.size() != 2) return failure(Error::stanza_invalid, "an X25519 stanza needs exactly one argument");
      auto share = base::base64_decode_canonical(stanza.arguments[1]);
      if (!share || share->size() != x25519_key_size) return failure(Error::stanza_invalid, "an X25519 share is not 32 bytes of canonical base64");
      if (stanza.body.size() != file_key_size + aead_tag_size) return failure(Error::stanza_invalid, "an X25519 stanza body is not 32 bytes");
    } else if (type == "scrypt") {
      if (header.stanzas.size() != 1) return failure(Error::scrypt_not_alone, "a scrypt stanza must be the only stanza");
      if (stanza.arguments.size() != 3) return failure(Error::stanza_invalid, "a scrypt stanza needs a salt and a work factor");
      auto salt = base::base64_decode_canonical(stanza.arguments[1]);
      if (!salt || salt->size() != 16) return failure(Error::stanza_invalid, "a scrypt salt is not 16 bytes of canonical base64");
      if (!parse_work_factor(stanza.arguments[2])) return failure(Error::stanza_invalid, "a scrypt work factor is not a plain decimal 1-64");
      if (stanza.body.size() != file_key_size + aead_tag_size) return failure(Error::stanza_invalid, "a scrypt stanza body is not 32 bytes");
    }
  }
  return std::nullopt;
}

struct Unwrapped {
  std::optional<SecureBytes> file_key;
  std::optional<Failure> failure;
};

Unwrapped find_file_key(const Header& header, const Identities& identities) {
  for (const Stanza& stanza : header.stanzas) {
    const std::string& type = stanza.arguments[0];
    if (type == "X25519") {
      const SecureBytes share = *base::base64_decode_canonical(stanza.arguments[1]);
      for (const X25519Identity& identity : identities.x25519) {
        auto shared = x25519_shared_secret(identity.secret, share);
        if (!shared) return {std::nullopt, failure(Error::weak_share, "an X25519 share is a low-order point")};
        const SecureBytes salt = concat(share, identity.public_key);
        const SecureBytes wrap_key = hkdf_sha256(*shared, salt, x25519_label, 32);
        if (auto key = unwrap_file_key(wrap_key, stanza.body)) return {std::move(key), std::nullopt};
      }
    } else if (type == "scrypt" && identities.passphrase) {
      const int work_factor = *parse_work_factor(stanza.arguments[2]);
      if (work_factor > identities.max_work_factor) {
        return {std::nullopt, failure(Error::work_factor_too_large,
                                      "scrypt work factor " + std::to_string(work_factor) + " is above the limit of " +
                                          std::to_string(identities.max_work_factor))};
      }
      const SecureBytes salt = concat(as_bytes(scrypt_label), *base::base64_decode_canonical(stanza.arguments[1]));
      const SecureBytes wrap_key = scrypt(as_bytes(std::string_view(*identities.passphrase)), salt, work_factor, 32);
      if (auto key = unwrap_file_key(wrap_key, stanza.body)) return {std::move(key), std::nullopt};
    }
  }
  return {std::nullopt, failure(Error::no_identity_matched, "no identity matches any recipient of the file")};
}

class VectorSink final : public base::ByteSink {
 public:
  explicit VectorSink(std::vector<std::uint8_t>& target) : target_(target) {}
  void write(ByteView bytes) override { target_.insert(target_.end(), bytes.begin(), bytes.end()); }

 private:
  std::vector<std::uint8_t>& target_;
};

}  // namespace

Category category_of(Error error) {
  switch (error) {
    case Error::no_identity_matched: return Category::no_match;
    case Error::header_mac_mismatch: return Category::hmac;
    case Error::no_chunks:
    case Error::chunk_authentication_failed:
    case Error::chunk_out_of_order:
    case Error::final_chunk_authentication_failed:
    case Error::truncated_at_chunk_boundary:
    case Error::empty_final_chunk:
    case Error::trailing_data: return Category::payload;
    default: return Category::header;
  }
}

std::string_view error_name(Error error) {
  switch (error) {
    case Error::header_malformed: return "header_malformed";
    case Error::unsupported_version: return "unsupported_version";
    case Error::stanza_invalid: return "stanza_invalid";
    case Error::scrypt_not_alone: return "scrypt_not_alone";
    case Error::work_factor_too_large: return "work_factor_too_large";
    case Error::weak_share: return "weak_share";
    case Error::nonce_missing: return "nonce_missing";
    case Error::no_identity_matched: return "no_identity_matched";
    case Error::header_mac_mismatch: return "header_mac_mismatch";
    case Error::no_chunks: return "no_chunks";
    case Error::chunk_authentication_failed: return "chunk_authentication_failed";
    case Error::chunk_out_of_order: return "chunk_out_of_order";
    case Error::final_chunk_authentication_failed: return "final_chunk_authentication_failed";
    case Error::truncated_at_chunk_boundary: return "truncated_at_chunk_boundary";
    case Error::empty_final_chunk: return "empty_final_chunk";
    case Error::trailing_data: return "trailing_data";
  }
  return "unknown";
}

std::string Failure::message() const {
  switch (code) {
    case Error::no_identity_matched:
      return "no identity matched: the file was not encrypted to any of the given keys";
    case Error::header_mac_mismatch:
      return "the header was modified (its MAC does not match): the file was tampered with or damaged";
    case Error::no_chunks: return "the file has no encrypted data after its header (truncated)";
    case Error::chunk_authentication_failed:
      return "data chunk " + std::to_string(chunk) + " failed authentication: the file was modified or damaged";
    case Error::chunk_out_of_order:
      return "data chunk " + std::to_string(chunk) + " is out of order: chunks were swapped or moved";
    case Error::final_chunk_authentication_failed:
      return "the final data chunk (" + std::to_string(chunk) +
             ") failed authentication: the file was cut short inside a chunk, or modified";
    case Error::truncated_at_chunk_boundary:
      return "the file was cut short after chunk " + std::to_string(chunk) + ": its final chunk is missing";
    case Error::empty_final_chunk: return "the file ends with an empty chunk after data (not a valid age file)";
    case Error::trailing_data: return "there are bytes after the final data chunk: the file was appended to";
    default: return detail.empty() ? std::string("invalid age header") : "invalid age header: " + detail;
  }
}

// ---- Encryptor ----------------------------------------------------------------

struct Encryptor::State {
  State(base::ByteSink& sink, ByteView payload_key) : out(sink), aead(payload_key), buffer(chunk_size), sealed(encrypted_chunk_size) {}
  base::ByteSink& out;
  ChaCha20Poly1305 aead;
  SecureBytes buffer;
  std::size_t filled = 0;
  std::uint64_t counter = 0;
  std::vector<std::uint8_t> sealed;
  bool finished = false;

  void seal(ByteView plaintext, bool last) {
    aead.seal(stream_nonce(counter++, last), plaintext, sealed.data());
    out.write(ByteView(sealed.data(), plaintext.size() + aead_tag_size));
  }
};

void Encryptor::start(const std::vector<Stanza>& stanzas, const SecureBytes& file_key, base::ByteSink& out) {
  const std::string text = header_text_without_mac(stanzas);
  const auto mac = header_mac(file_key, text);
  std::string header = text + " " + base::base64_encode(mac) + "\n";
  std::array<std::uint8_t, nonce_size> nonce{};
  random_bytes(nonce);
  const SecureBytes payload_key = hkdf_sha256(file_key, nonce, "payload", 32);
  out.write(as_bytes(header));
  out.write(nonce);
  state_ = std::make_unique<State>(out, payload_key);
}

namespace {

SecureBytes new_file_key() {
  SecureBytes key(file_key_size);
  random_bytes(key);
  return key;
}

std::vector<Stanza> x25519_stanzas(std::span<const X25519PublicKey> recipients, const SecureBytes& file_key) {
  if (recipients.empty()) throw std::invalid_argument("age encryption needs at least one recipient");
  std::vector<Stanza> stanzas;
  for (const X25519PublicKey& recipient : recipients) {
    const SecureBytes ephemeral = x25519_generate_secret();
    const X25519PublicKey share = x25519_public_key(ephemeral);
    auto shared = x25519_shared_secret(ephemeral, recipient);
    if (!shared) throw std::invalid_argument("an age recipient is a low-order point; it cannot be encrypted to");
    const SecureBytes salt = concat(share, recipient);
    const SecureBytes wrap_key = hkdf_sha256(*shared, salt, x25519_label, 32);
    stanzas.push_back(Stanza{{"X25519", base::base64_encode(share)}, wrap_file_key(wrap_key, file_key)});
  }
  return stanzas;
}

std::vector<Stanza> scrypt_stanzas(std::string_view passphrase, int work_factor, const SecureBytes& file_key) {
  if (work_factor < 1 || work_factor > max_work_factor) throw std::invalid_argument("scrypt work factor must be 1-22");
  std::array<std::uint8_t, 16> salt{};
  random_bytes(salt);
  const SecureBytes wrap_key = scrypt(as_bytes(passphrase), concat(as_bytes(scrypt_label), salt), work_factor, 32);
  return {Stanza{{"scrypt", base::base64_encode(salt), std::to_string(work_factor)}, wrap_file_key(wrap_key, file_key)}};
}

}  // namespace

Encryptor::Encryptor(std::span<const X25519PublicKey> recipients, base::ByteSink& out) {
  const SecureBytes file_key = new_file_key();
  start(x25519_stanzas(recipients, file_key), file_key, out);
}

Encryptor::Encryptor(std::string_view passphrase, int work_factor, base::ByteSink& out) {
  const SecureBytes file_key = new_file_key();
  start(scrypt_stanzas(passphrase, work_factor, file_key), file_key, out);
}

Encryptor::~Encryptor() = default;

void Encryptor::write(ByteView plaintext) {
  State& s = *state_;
  if (s.finished) throw std::logic_error("age: write after finish");
  while (!plaintext.empty()) {
    if (s.filled == chunk_size) {
      s.seal(ByteView(s.buffer.data(), chunk_size), false);  // more follows, so not last
      s.filled = 0;
    }
    if (s.filled == 0 && plaintext.size() > chunk_size) {
      // Fast path: a whole chunk with more after it is sealed in place.
      s.seal(plaintext.first(chunk_size), false);
      plaintext = plaintext.subspan(chunk_size);
      continue;
    }
    const std::size_t take = std::min(chunk_size - s.filled, plaintext.size());
    std::memcpy(s.buffer.data() + s.filled, plaintext.data(), take);
    s.filled += take;
    plaintext = plaintext.subspan(take);
  }
}

void Encryptor::finish() {
  State& s = *state_;
  if (s.finished) return;
  s.seal(ByteView(s.buffer.data(), s.filled), true);
  s.filled = 0;
  s.finished = true;
}

// ---- Decryptor ----------------------------------------------------------------

struct Decryptor::State {
  enum class Phase { header, nonce, payload, done, failed };

  State(const Identities& ids, base::ByteSink& sink) : identities(ids), out(sink), plaintext(chunk_size) {}

  const Identities& identities;
  base::ByteSink& out;
  Phase phase = Phase::header;
  std::string header_bytes;
  std::size_t header_line_start = 0;  // where the line being received begins
  SecureBytes file_key;
  std::array<std::uint8_t, nonce_size> nonce{};
  std::size_t nonce_filled = 0;
  std::optional<ChaCha20Poly1305> aead;
  std::vector<std::uint8_t> pending;  // ciphertext not yet processed
  std::size_t pending_offset = 0;
  SecureBytes plaintext;
  std::uint64_t counter = 0;
  std::uint64_t released = 0;
  std::optional<Failure> error;

  std::optional<Failure> fail(Failure f) {
    phase = Phase::failed;
    error = std::move(f);
    return error;
  }

  bool open(ByteView chunk, std::uint64_t index, bool last) {
    return aead->open(stream_nonce(index, last), chunk, plaintext.data());
  }

  void release(std::size_t size) {
    out.write(ByteView(plaintext.data(), size));
    released += size;
  }

  // Tells a moved chunk from a modified one: does it authenticate nearby?
  bool authenticates_elsewhere(ByteView chunk) {
    const std::uint64_t low = counter > reorder_window ? counter - reorder_window : 0;
    for (std::uint64_t index = low; index <= counter + reorder_window; ++index) {
      if (index == counter) continue;
      if (open(chunk, index, false) || open(chunk, index, true)) return true;
    }
    return false;
  }

  // A full chunk with more data after it.
  std::optional<Failure> middle_chunk(ByteView chunk) {
    if (open(chunk, counter, false)) {
      release(chunk.size() - aead_tag_size);
      ++counter;
      return std::nullopt;
    }
    if (open(chunk, counter, true)) {
      // An authentic final chunk, yet the file goes on.
      release(chunk.size() - aead_tag_size);
      return fail(failure(Error::trailing_data, {}, counter));
    }
    if (authenticates_elsewhere(chunk)) return fail(failure(Error::chunk_out_of_order, {}, counter));
    return fail(failure(Error::chunk_authentication_failed, {}, counter));
  }

  std::optional<Failure> final_chunk(ByteView chunk) {
    if (chunk.empty()) {
      return fail(counter == 0 ? failure(Error::no_chunks, {}) : failure(Error::truncated_at_chunk_boundary, {}, counter - 1));
    }
    if (chunk.size() >= aead_tag_size && open(chunk, counter, true)) {
      const std::size_t size = chunk.size() - aead_tag_size;
      if (size == 0 && counter > 0) return fail(failure(Error::empty_final_chunk, {}, counter));
      release(size);
      phase = Phase::done;
      return std::nullopt;
    }
    if (chunk.size() == encrypted_chunk_size && open(chunk, counter, false)) {
      // Authentic, but not marked final: the rest of the file is missing.
      // Released like every authentic chunk (as age does); the failure says
      // the output is incomplete.
      release(chunk.size() - aead_tag_size);
      return fail(failure(Error::truncated_at_chunk_boundary, {}, counter));
    }
    // A short final chunk with a few bytes appended after it?
    for (std::size_t extra = 1; extra <= 1024 && extra + aead_tag_size <= chunk.size(); ++extra) {
      if (open(chunk.first(chunk.size() - extra), counter, true)) return fail(failure(Error::trailing_data, {}, counter));
    }
    if (chunk.size() >= aead_tag_size && authenticates_elsewhere(chunk)) {
      return fail(failure(Error::chunk_out_of_order, {}, counter));
    }
    return fail(failure(Error::final_chunk_authentication_failed, {}, counter));
  }

  std::optional<Failure> start_payload() {
    const SecureBytes key = hkdf_sha256(file_key, nonce, "payload", 32);
    aead.emplace(key);
    phase = Phase::payload;
    return std::nullopt;
  }

  std::optional<Failure> on_header(const Header& header) {
    if (auto invalid = validate_stanzas(header)) return fail(std::move(*invalid));
    Unwrapped unwrapped = find_file_key(header, identities);
    if (!unwrapped.file_key) return fail(std::move(*unwrapped.failure));
    file_key = std::move(*unwrapped.file_key);
    const auto expected = header_mac(file_key, std::string_view(header_bytes).substr(0, header.mac_input_size));
    if (!equal_constant_time(expected, header.mac)) return fail(failure(Error::header_mac_mismatch, {}));
    phase = Phase::nonce;
    return std::nullopt;
  }

  std::optional<Failure> feed(ByteView data) {
    while (!data.empty()) {
      switch (phase) {
        case Phase::failed: return error;
        case Phase::done: return fail(failure(Error::trailing_data, {}, counter));
        case Phase::header: {
          // Take bytes up to the next newline at most, so the header never
          // swallows payload bytes. The header is parsed once the first line
          // is in (to refuse non-age input early) and once the MAC line is.
          const auto* newline = static_cast<const std::uint8_t*>(std::memchr(data.data(), '\n', data.size()));
          const std::size_t take = newline ? static_cast<std::size_t>(newline - data.data()) + 1 : data.size();
          const std::size_t line_start = header_line_start;
          header_bytes.append(as_chars(data.first(take)));
          data = data.subspan(take);
          if (newline != nullptr) header_line_start = header_bytes.size();
          if (header_bytes.size() > max_header_size) return fail(failure(Error::header_malformed, "header longer than 1 MiB"));
          const bool first_line = line_start == 0;
          const bool mac_line = newline != nullptr && std::string_view(header_bytes).substr(line_start).starts_with("---");
          if (!first_line && !mac_line) break;
          HeaderParse parsed = parse_header(header_bytes, false);
          if (parsed.status == ParseStatus::failed) return fail(std::move(parsed.failure));
          if (parsed.status == ParseStatus::complete) {
            if (auto failed = on_header(parsed.header)) return failed;
          } else if (mac_line) {
            return fail(failure(Error::header_malformed, "bad MAC line"));
          }
          break;
        }
        case Phase::nonce: {
          const std::size_t take = std::min(nonce_size - nonce_filled, data.size());
          std::memcpy(nonce.data() + nonce_filled, data.data(), take);
          nonce_filled += take;
          data = data.subspan(take);
          if (nonce_filled == nonce_size) start_payload();
          break;
        }
        case Phase::payload: {
          if (pending.size() == pending_offset && data.size() > encrypted_chunk_size) {
            // Fast path: whole chunks straight from the input.
            if (auto failed = middle_chunk(data.first(encrypted_chunk_size))) return failed;
            data = data.subspan(encrypted_chunk_size);
            continue;
          }
          pending.insert(pending.end(), data.begin(), data.end());
          data = {};
          while (pending.size() - pending_offset > encrypted_chunk_size) {
            if (auto failed = middle_chunk(ByteView(pending.data() + pending_offset, encrypted_chunk_size))) return failed;
            pending_offset += encrypted_chunk_size;
          }
          if (pending_offset > 0) {
            pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(pending_offset));
            pending_offset = 0;
          }
          break;
        }
      }
    }
    return phase == Phase::failed ? error : std::nullopt;
  }

  std::optional<Failure> finish() {
    switch (phase) {
      case Phase::failed: return error;
      case Phase::done: return std::nullopt;
      case Phase::header: {
        HeaderParse parsed = parse_header(header_bytes, true);
        if (parsed.status == ParseStatus::complete) {
          if (auto failed = on_header(parsed.header)) return failed;
          return fail(failure(Error::nonce_missing, "the file ends after its header"));
        }
        return fail(std::move(parsed.failure));
      }
      case Phase::nonce: return fail(failure(Error::nonce_missing, "the file ends inside the payload nonce"));
      case Phase::payload: return final_chunk(ByteView(pending.data() + pending_offset, pending.size() - pending_offset));
    }
    return error;
  }
};

Decryptor::Decryptor(const Identities& identities, base::ByteSink& plaintext)
    : state_(std::make_unique<State>(identities, plaintext)) {}
Decryptor::~Decryptor() = default;
std::optional<Failure> Decryptor::feed(ByteView ciphertext) { return state_->feed(ciphertext); }
std::optional<Failure> Decryptor::finish() { return state_->finish(); }
std::uint64_t Decryptor::plaintext_bytes() const noexcept { return state_->released; }

std::vector<std::uint8_t> encrypt(ByteView plaintext, std::span<const X25519PublicKey> recipients) {
  std::vector<std::uint8_t> out;
  VectorSink sink(out);
  Encryptor encryptor(recipients, sink);
  encryptor.write(plaintext);
  encryptor.finish();
  return out;
}

DecryptResult decrypt(ByteView ciphertext, const Identities& identities) {
  DecryptResult result;
  VectorSink sink(result.plaintext);
  Decryptor decryptor(identities, sink);
  result.failure = decryptor.feed(ciphertext);
  if (!result.failure) result.failure = decryptor.finish();
  return result;
}

}  // namespace medgw::crypto::age
