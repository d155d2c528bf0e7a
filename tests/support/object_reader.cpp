#include <tests/support/object_reader.hpp>

#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <archive.h>
#include <locale.h>
#include <archive_entry.h>

namespace medgw::test {

ObjectContent read_tar_zstd(const std::vector<std::uint8_t>& compressed) {
  ObjectContent content;
  // As a receiver would: names in the archive are UTF-8 (or raw bytes).
  locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  REQUIRE(utf8 != static_cast<locale_t>(nullptr));
  locale_t previous = uselocale(utf8);
  struct archive* a = archive_read_new();
  archive_read_support_filter_zstd(a);
  archive_read_support_format_tar(a);
  REQUIRE(archive_read_open_memory(a, compressed.data(), compressed.size()) == ARCHIVE_OK);
  struct archive_entry* entry = nullptr;
  int result = ARCHIVE_OK;
  while ((result = archive_read_next_header(a, &entry)) == ARCHIVE_OK || result == ARCHIVE_WARN) {
    const char* name = archive_entry_pathname(entry);
    REQUIRE(name != nullptr);
    std::string data;
    char buffer[65536];
    la_ssize_t got = 0;
    while ((got = archive_read_data(a, buffer, sizeof buffer)) > 0) data.append(buffer, static_cast<std::size_t>(got));
    REQUIRE(got == 0);
    content.names.emplace_back(name);
    content.files[name] = std::move(data);
  }
  INFO(archive_error_string(a));
  REQUIRE(result == ARCHIVE_EOF);
  archive_read_free(a);
  uselocale(previous);
  freelocale(utf8);
  if (!content.names.empty() && content.names[0] == "MANIFEST.json") content.manifest = content.files["MANIFEST.json"];
  return content;
}

ObjectContent read_object(const std::filesystem::path& file, const crypto::X25519Identity& identity) {
  const std::string bytes = read_file(file);
  crypto::age::Identities identities;
  identities.x25519.push_back(crypto::X25519Identity{identity.secret, identity.public_key});
  auto result = crypto::age::decrypt(base::as_bytes(bytes), identities);
  if (result.failure) FAIL("object " << file.filename().string() << " does not decrypt: " << result.failure->message());
  return read_tar_zstd(result.plaintext);
}

}  // namespace medgw::test
