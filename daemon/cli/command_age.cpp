// medgw encrypt / decrypt: age v1, streaming, byte-compatible with the age CLI.
#include <daemon/cli/commands.hpp>

#include <crypto/age.hpp>

#include <base/output_file.hpp>
#include <base/private_file.hpp>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::size_t read_block = 256 << 10;  // a few chunks: memory stays flat

// The input file, or standard input for "-" / none.
struct Input {
  int fd = STDIN_FILENO;
  std::string name = "standard input";
  Input() = default;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  ~Input() {
    if (fd != STDIN_FILENO) ::close(fd);
  }
};

std::unique_ptr<Input> open_input(const Invocation& invocation) {
  auto input = std::make_unique<Input>();
  if (!invocation.positional.empty() && invocation.positional[0] != "-") {
    input->name = invocation.positional[0];
    input->fd = ::open(input->name.c_str(), O_RDONLY | O_CLOEXEC);
    if (input->fd < 0) throw std::system_error(errno, std::generic_category(), "cannot read " + input->name);
  }
  return input;
}

// Reads the input to its end, handing each block to `consume` (false = stop).
template <class Consume>
void read_all(const Input& input, Consume&& consume) {
  std::vector<std::uint8_t> buffer(read_block);
  while (true) {
    const ssize_t got = ::read(input.fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot read " + input.name);
    }
    if (got == 0) return;
    if (!consume(base::ByteView(buffer.data(), static_cast<std::size_t>(got)))) return;
  }
}

base::SecureString read_passphrase(const std::filesystem::path& file) {
  const base::SecureBytes content = base::read_private_file(file);
  std::string_view text = base::as_chars(content);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.empty()) throw UsageError(file.string() + ": the passphrase file is empty");
  return base::SecureString(text);
}

std::vector<crypto::X25519PublicKey> collect_recipients(const Invocation& invocation) {
  std::vector<crypto::X25519PublicKey> recipients;
  for (const std::string& text : invocation.values("recipient")) {
    auto recipient = crypto::parse_recipient(text);
    if (!recipient) throw UsageError("-r '" + text + "' is not an age X25519 recipient (age1...)");
    recipients.push_back(*recipient);
  }
  for (const std::string& file : invocation.values("recipients-file")) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot read " + file);
    std::string content;
    char block[4096];
    ssize_t got;
    while ((got = ::read(fd, block, sizeof block)) > 0) content.append(block, static_cast<std::size_t>(got));
    ::close(fd);
    crypto::KeyFileError error;
    auto listed = crypto::parse_recipients_file(content, error);
    if (listed.empty()) {
      throw UsageError(file + (error.line ? ":" + std::to_string(error.line) : std::string()) + ": " + error.message);
    }
    recipients.insert(recipients.end(), listed.begin(), listed.end());
  }
  return recipients;
}

template <class Body>
int guarded(Invocation& invocation, std::string_view command, Body&& body) {
  try {
    return body();
  } catch (const UsageError& error) {
    *invocation.err << "medgw " << command << ": " << error.what() << "\n";
    return exit_usage;
  } catch (const std::exception& error) {
    *invocation.err << "medgw " << command << ": " << error.what() << "\n";
    return exit_failure;
  }
}

}  // namespace

int command_encrypt(Invocation& invocation) {
  return guarded(invocation, "encrypt", [&] {
    const std::vector<crypto::X25519PublicKey> recipients = collect_recipients(invocation);
    const bool passphrase = invocation.has("passphrase-file");
    if (passphrase && !recipients.empty()) {
      throw UsageError("a passphrase cannot be combined with recipients (an age scrypt stanza must be alone)");
    }
    if (!passphrase && recipients.empty()) throw UsageError("give -r RECIPIENT, -R FILE or --passphrase-file FILE");
    const bool to_file = invocation.has("output");
    if (!to_file && ::isatty(STDOUT_FILENO)) {
      throw UsageError("refusing to write binary age output to a terminal; use -o FILE or redirect it");
    }
    const auto input = open_input(invocation);
    std::optional<base::AtomicFile> file;
    base::FdSink stdout_sink(STDOUT_FILENO, "standard output");
    if (to_file) file.emplace(invocation.value("output"), 0666);
    base::ByteSink& sink = file ? static_cast<base::ByteSink&>(*file) : stdout_sink;
    std::unique_ptr<crypto::age::Encryptor> encryptor;
    if (passphrase) {
      const base::SecureString secret = read_passphrase(invocation.value("passphrase-file"));
      encryptor = std::make_unique<crypto::age::Encryptor>(std::string_view(secret), crypto::age::default_work_factor, sink);
    } else {
      encryptor = std::make_unique<crypto::age::Encryptor>(recipients, sink);
    }
    read_all(*input, [&](base::ByteView block) {
      encryptor->write(block);
      return true;
    });
    encryptor->finish();
    if (file) file->commit();
    return static_cast<int>(exit_ok);
  });
}

int command_decrypt(Invocation& invocation) {
  return guarded(invocation, "decrypt", [&] {
    crypto::age::Identities identities;
    for (const std::string& file : invocation.values("identity")) {
      const base::SecureBytes content = base::read_private_file(file);
      crypto::KeyFileError error;
      auto parsed = crypto::parse_identity_file(base::as_chars(content), error);
      if (parsed.empty()) {
        throw UsageError(file + (error.line ? ":" + std::to_string(error.line) : std::string()) + ": " + error.message);
      }
      for (auto& identity : parsed) identities.x25519.push_back(std::move(identity));
    }
    if (invocation.has("passphrase-file")) identities.passphrase = read_passphrase(invocation.value("passphrase-file"));
    if (identities.x25519.empty() && !identities.passphrase) throw UsageError("give -i IDENTITY or --passphrase-file FILE");

    const auto input = open_input(invocation);
    const bool to_file = invocation.has("output");
    std::optional<base::AtomicFile> file;
    base::FdSink stdout_sink(STDOUT_FILENO, "standard output");
    // Plaintext goes to a private temporary file, renamed only once the last
    // chunk has authenticated.
    if (to_file) file.emplace(invocation.value("output"), 0600);
    base::ByteSink& sink = file ? static_cast<base::ByteSink&>(*file) : stdout_sink;
    crypto::age::Decryptor decryptor(identities, sink);
    std::optional<crypto::age::Failure> failure;
    read_all(*input, [&](base::ByteView block) {
      failure = decryptor.feed(block);
      return !failure;
    });
    if (!failure) failure = decryptor.finish();
    if (failure) {
      *invocation.err << "medgw decrypt: " << input->name << ": " << failure->message() << "\n";
      if (!to_file && decryptor.plaintext_bytes() > 0) {
        *invocation.err << "medgw decrypt: the output written so far is incomplete and must not be used\n";
      } else if (to_file) {
        *invocation.err << "medgw decrypt: nothing was written to " << invocation.value("output") << "\n";
      }
      return static_cast<int>(exit_failure);
    }
    if (file) file->commit();
    return static_cast<int>(exit_ok);
  });
}

}  // namespace medgw::daemon
