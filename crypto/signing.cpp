#include <crypto/signing.hpp>

#include <crypto/error.hpp>
#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/openssl_handles.hpp>
#include <base/private_file.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>

namespace medgw::crypto {
namespace {

constexpr std::string_view key_header = "medgw-signing-key/1 ";

using base::openssl::MdContext;
using base::openssl::Pkey;

Pkey private_key(ByteView seed) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) throw CryptoError(with_openssl_error("cannot load an Ed25519 key"));
  return key;
}

}  // namespace

SigningKey::SigningKey(SecureBytes seed, Ed25519PublicKey public_key, std::shared_ptr<evp_pkey_st> key)
    : seed_(std::move(seed)), public_key_(public_key), key_(std::move(key)) {}

SigningKey SigningKey::from_seed(ByteView seed) {
  if (seed.size() != 32) throw std::invalid_argument("Ed25519 seed must be 32 bytes");
  Pkey key = private_key(seed);
  Ed25519PublicKey public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1) {
    throw CryptoError(with_openssl_error("cannot compute an Ed25519 public key"));
  }
  return SigningKey(SecureBytes(seed.begin(), seed.end()), public_key,
                    std::shared_ptr<evp_pkey_st>(key.release(), EVP_PKEY_free));
}

SigningKey SigningKey::generate() {
  SecureBytes seed(32);
  random_bytes(seed);
  return from_seed(seed);
}

SigningKey SigningKey::load_or_create(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    SigningKey key = generate();
    SecureString content(key_header);
    const std::string encoded = base::base64_encode(key.seed_);
    content.append(encoded).push_back('\n');
    try {
      base::create_private_file(file, as_bytes(std::string_view(content)));
      return key;
    } catch (const std::system_error& error) {
      if (error.code() != std::errc::file_exists) throw;
    }
  }
  const SecureBytes content = base::read_private_file(file);
  std::string_view text = as_chars(content);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (!text.starts_with(key_header)) {
    throw std::runtime_error(file.string() + " is not a medgw signing key; restore it from backup (the central "
                                             "knows this gateway by its public key)");
  }
  auto seed = base::base64_decode_canonical(text.substr(key_header.size()));
  if (!seed || seed->size() != 32) throw std::runtime_error(file.string() + " holds a damaged signing key");
  return from_seed(*seed);
}

Ed25519Signature SigningKey::sign(ByteView message) const {
  MdContext ctx(EVP_MD_CTX_new());
  Ed25519Signature signature{};
  std::size_t length = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) != 1) {
    throw CryptoError(with_openssl_error("Ed25519 signing failed"));
  }
  return signature;
}

std::string SigningKey::public_key_text() const { return "ed25519:" + base::base64_encode(public_key_, true); }

bool verify_signature(const Ed25519PublicKey& key, ByteView message, const Ed25519Signature& signature) {
  Pkey public_key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  if (!public_key) return false;
  MdContext ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, public_key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
}

std::string receipt_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                              std::string_view age_sha256_hex, std::string_view received_at) {
  std::string out = "medgw-receipt/1\n";
  out.append(object_id).push_back('\n');
  out.append(std::to_string(seq)).push_back('\n');
  out.append(facility).push_back('\n');
  out.append(age_sha256_hex).push_back('\n');
  out.append(received_at).push_back('\n');
  return out;
}

std::string erasure_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                              std::string_view erased_at, const ErasureCounts& counts) {
  std::string out = "medgw-erasure/1\n";
  out.append(object_id).push_back('\n');
  out.append(std::to_string(seq)).push_back('\n');
  out.append(facility).push_back('\n');
  out.append(erased_at).push_back('\n');
  for (const std::uint64_t count :
       {counts.patients, counts.ssmix2_folders, counts.files_rewritten, counts.dpc_rows, counts.receipts}) {
    out.append(std::to_string(count)).push_back('\n');
  }
  return out;
}

std::optional<Ed25519PublicKey> parse_public_key_text(std::string_view text) {
  if (!text.starts_with("ed25519:")) return std::nullopt;
  auto bytes = base::base64_decode_padded(text.substr(8));
  if (!bytes) bytes = base::base64_decode_canonical(text.substr(8));
  if (!bytes || bytes->size() != 32) return std::nullopt;
  Ed25519PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

std::string object_statement(std::string_view object_id, std::uint64_t seq, std::string_view facility,
                             std::string_view age_sha256_hex) {
  std::string out = "medgw-object/1\n";
  out.append(object_id).push_back('\n');
  out.append(std::to_string(seq)).push_back('\n');
  out.append(facility).push_back('\n');
  out.append(age_sha256_hex).push_back('\n');
  return out;
}

}  // namespace medgw::crypto
