#include <daemon/delivery/credential_files.hpp>
#include <daemon/delivery/pem.hpp>

#include <base/output_file.hpp>
#include <base/private_file.hpp>

#include <exception>
#include <system_error>

namespace medgw::daemon {
namespace {

void write_pending(const std::filesystem::path& file, const std::string& text, unsigned mode) {
  base::AtomicFile out(pending_file(file), mode);
  out.write(base::ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  out.commit();  // fsync, rename to FILE.new, fsync the folder
}

void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::rename(from, to);
  base::sync_directory(to.has_parent_path() ? to.parent_path() : std::filesystem::path("."));
}

void remove_durably(const std::filesystem::path& file) {
  if (std::filesystem::remove(file)) {
    base::sync_directory(file.has_parent_path() ? file.parent_path() : std::filesystem::path("."));
  }
}

// The key in `file`, or null when it is missing or cannot be opened.
base::openssl::Pkey read_key_file(const std::filesystem::path& file, const std::string& password) {
  try {
    if (!std::filesystem::exists(file)) return {};
    const base::SecureBytes bytes = base::read_private_file(file);
    return read_private_key(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), password);
  } catch (const std::exception&) {
    return {};
  }
}

base::openssl::X509Cert read_first_certificate(const std::filesystem::path& file) {
  std::string text;
  if (!read_text_file(file.string(), text)) return {};
  Certificates certificates = read_certificates(text);
  if (certificates.empty()) return {};
  return std::move(certificates.front());
}

}  // namespace

std::filesystem::path pending_file(const std::filesystem::path& file) {
  std::filesystem::path pending = file;
  pending += ".new";
  return pending;
}

void store_credentials(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                       const std::string& key_pem, const std::string& chain_pem) {
  write_pending(key_file, key_pem, 0600);
  write_pending(cert_file, chain_pem, 0644);
  // From here on recover_credentials_swap() completes the swap after a crash.
  rename_durably(pending_file(key_file), key_file);
  rename_durably(pending_file(cert_file), cert_file);
}

SwapRecovery recover_credentials_swap(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                                      const std::string& key_password) {
  const std::filesystem::path cert_new = pending_file(cert_file);
  const std::filesystem::path key_new = pending_file(key_file);
  const bool have_cert_new = std::filesystem::exists(cert_new);
  const bool have_key_new = std::filesystem::exists(key_new);
  if (!have_cert_new && !have_key_new) return SwapRecovery::nothing;
  const base::openssl::X509Cert certificate = have_cert_new ? read_first_certificate(cert_new) : nullptr;
  if (certificate) {
    // Crashed before the key's rename: both new files are complete.
    const base::openssl::Pkey pending_key = have_key_new ? read_key_file(key_new, "") : nullptr;
    if (pending_key && certificate_matches_key(certificate.get(), pending_key.get())) {
      rename_durably(key_new, key_file);
      rename_durably(cert_new, cert_file);
      return SwapRecovery::completed;
    }
    // Crashed between the two renames: the new key is in place.
    const base::openssl::Pkey key = read_key_file(key_file, key_password);
    if (key && certificate_matches_key(certificate.get(), key.get())) {
      remove_durably(key_new);
      rename_durably(cert_new, cert_file);
      return SwapRecovery::completed;
    }
  }
  // Crashed while writing the new files, or leftovers of something else.
  remove_durably(cert_new);
  remove_durably(key_new);
  return SwapRecovery::removed;
}

}  // namespace medgw::daemon
