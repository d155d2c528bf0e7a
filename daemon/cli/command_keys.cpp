// medgw keys generate / keys recipient
#include <daemon/cli/commands.hpp>

#include <crypto/age_keys.hpp>

#include <base/private_file.hpp>
#include <base/time_format.hpp>

#include <ostream>

namespace medgw::daemon {

int command_keys_generate(Invocation& invocation) {
  std::ostream& err = *invocation.err;
  if (!invocation.has("output")) {
    err << "medgw keys generate: give the file to create with -o FILE (the key is never printed to a terminal)\n";
    return exit_usage;
  }
  const std::filesystem::path file = invocation.value("output");
  const crypto::X25519Identity identity = crypto::generate_identity();
  const base::SecureString text =
      crypto::identity_file_text(identity, base::rfc3339_utc(std::chrono::system_clock::now()));
  try {
    base::create_private_file(file, base::as_bytes(std::string_view(text)));
  } catch (const std::system_error& error) {
    err << "medgw keys generate: " << error.what() << "\n";
    return exit_failure;
  }
  err << "Public key: " << crypto::format_recipient(identity.public_key) << "\n";
  return exit_ok;
}

int command_keys_recipient(Invocation& invocation) {
  const std::filesystem::path file = invocation.positional[0];
  try {
    const base::SecureBytes content = base::read_private_file(file);
    crypto::KeyFileError error;
    const auto identities = crypto::parse_identity_file(base::as_chars(content), error);
    if (identities.empty()) {
      *invocation.err << "medgw keys recipient: " << file.string();
      if (error.line > 0) *invocation.err << ":" << error.line;
      *invocation.err << ": " << error.message << "\n";
      return exit_failure;
    }
    for (const auto& identity : identities) *invocation.out << crypto::format_recipient(identity.public_key) << "\n";
  } catch (const std::system_error& error) {
    *invocation.err << "medgw keys recipient: " << error.what() << "\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace medgw::daemon
