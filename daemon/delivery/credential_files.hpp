#pragma once
// Replacing central.key and central.cert so that a crash at any point leaves
// a key and a certificate that match (docs/certificates.md "The gateway"):
// both are written to FILE.new and synced, then renamed key first. At start,
// recover_credentials_swap() finishes or undoes a swap a crash cut short.
#include <filesystem>
#include <string>

namespace medgw::daemon {

[[nodiscard]] std::filesystem::path pending_file(const std::filesystem::path& file);  // FILE.new

// Writes `key_pem` (mode 0600) and `chain_pem` (the certificate, then its CA
// chain; mode 0644) in place of `key_file` and `cert_file`. Throws
// std::system_error naming the file on a failure (the files in place then
// still match).
void store_credentials(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                       const std::string& key_pem, const std::string& chain_pem);

enum class SwapRecovery {
  nothing,    // no FILE.new: nothing to do
  completed,  // central.cert.new matched the key in place or central.key.new: the swap was finished
  removed,    // FILE.new that did not match: removed, the files in place stay
};

// Run before the key and certificate are used. `key_password` opens an
// encrypted key in place. Throws std::system_error when a rename or removal fails.
[[nodiscard]] SwapRecovery recover_credentials_swap(const std::filesystem::path& cert_file,
                                                    const std::filesystem::path& key_file,
                                                    const std::string& key_password);

}  // namespace medgw::daemon
