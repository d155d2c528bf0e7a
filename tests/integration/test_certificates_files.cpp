// The gateway's certificate files (issue 22): the crash-safe replacement of
// central.key/central.cert and its recovery at every crash point
// (daemon/delivery/credential_files.hpp), and the TLS material in memory that
// follows the files and loads CRLs (daemon/delivery/tls_material.hpp).
#include "cert_fixture.hpp"

#include <daemon/delivery/credential_files.hpp>
#include <daemon/delivery/tls_material.hpp>

#include <ctime>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>

namespace gw = medgw::daemon;
namespace certs = medgw::test::certs;
namespace fs = std::filesystem;
using medgw::test::TempDir;
using medgw::test::read_file;
using medgw::test::write_file;

namespace {

struct Pair {
  std::string key_pem;
  std::string chain_pem;
};

// A key and its certificate (with the CA after it), as the central issues them.
Pair make_pair(const TempDir& dir, const std::string& name) {
  (void)certs::key_and_certificate(dir, "ca", "131234567", name);
  return {read_file(dir / (name + ".key")), read_file(dir / (name + ".pem")) + read_file(dir / "ca.pem")};
}

void write_private(const fs::path& file, const std::string& text) {
  write_file(file, text);
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
}

bool present(const fs::path& file) { return fs::exists(file); }

// A CRL of `ca` revoking the certificate in `revoked_pem` (none: empty).
std::string make_crl(const TempDir& dir, const std::string& ca, const std::string& revoked_pem) {
  const auto ca_cert = gw::read_certificates(read_file(dir / (ca + ".pem")));
  const auto ca_key = gw::read_private_key(read_file(dir / (ca + ".key")), "");
  REQUIRE((ca_cert.size() == 1 && ca_key));
  const medgw::base::openssl::X509Crl crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert.front().get()));
  ASN1_TIME* now = ASN1_TIME_adj(nullptr, std::time(nullptr), -1, 0);
  ASN1_TIME* next = ASN1_TIME_adj(nullptr, std::time(nullptr), 7, 0);
  X509_CRL_set1_lastUpdate(crl.get(), now);
  X509_CRL_set1_nextUpdate(crl.get(), next);
  if (!revoked_pem.empty()) {
    const auto revoked = gw::read_certificates(revoked_pem);
    X509_REVOKED* entry = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(revoked.front().get()));
    X509_REVOKED_set_revocationDate(entry, now);
    X509_CRL_add0_revoked(crl.get(), entry);
  }
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  X509_CRL_sort(crl.get());
  REQUIRE(X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) > 0);
  const medgw::base::openssl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl.get());
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

TEST_CASE("credential files: a swap writes both, key 0600, and leaves no .new", "[cert][files]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  const Pair next = make_pair(dir, "next");
  gw::store_credentials(dir / "client.pem", dir / "client.key", next.key_pem, next.chain_pem);
  CHECK(read_file(dir / "client.key") == next.key_pem);
  CHECK(read_file(dir / "client.pem") == next.chain_pem);
  CHECK((fs::status(dir / "client.key").permissions() & fs::perms::mask) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK_FALSE(present(dir / "client.key.new"));
  CHECK_FALSE(present(dir / "client.pem.new"));
  CHECK(gw::recover_credentials_swap(dir / "client.pem", dir / "client.key", "") == gw::SwapRecovery::nothing);
}

TEST_CASE("credential files: recovery after a crash at every point of the swap", "[cert][files]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  const Pair old_pair = make_pair(dir, "old");
  const Pair new_pair = make_pair(dir, "new");
  const Pair stray = make_pair(dir, "stray");
  const fs::path cert = dir / "client.pem";
  const fs::path key = dir / "client.key";
  write_private(key, old_pair.key_pem);
  write_file(cert, old_pair.chain_pem);
  const auto recover = [&] { return gw::recover_credentials_swap(cert, key, ""); };
  const auto no_pending = [&] { return !present(dir / "client.pem.new") && !present(dir / "client.key.new"); };

  SECTION("both .new written, nothing renamed: the swap is completed") {
    write_private(dir / "client.key.new", new_pair.key_pem);
    write_file(dir / "client.pem.new", new_pair.chain_pem);
    CHECK(recover() == gw::SwapRecovery::completed);
    CHECK(read_file(key) == new_pair.key_pem);
    CHECK(read_file(cert) == new_pair.chain_pem);
    CHECK(no_pending());
  }
  SECTION("the key renamed, central.cert.new left: the swap is completed") {
    write_private(key, new_pair.key_pem);
    write_file(dir / "client.pem.new", new_pair.chain_pem);
    CHECK(recover() == gw::SwapRecovery::completed);
    CHECK(read_file(key) == new_pair.key_pem);
    CHECK(read_file(cert) == new_pair.chain_pem);
    CHECK(no_pending());
  }
  SECTION("only the key's .new written: removed, the old pair stays") {
    write_private(dir / "client.key.new", new_pair.key_pem);
    CHECK(recover() == gw::SwapRecovery::removed);
    CHECK(read_file(key) == old_pair.key_pem);
    CHECK(read_file(cert) == old_pair.chain_pem);
    CHECK(no_pending());
  }
  SECTION("a central.cert.new that matches neither key: removed") {
    write_file(dir / "client.pem.new", stray.chain_pem);
    CHECK(recover() == gw::SwapRecovery::removed);
    write_private(dir / "client.key.new", new_pair.key_pem);
    write_file(dir / "client.pem.new", stray.chain_pem);
    CHECK(recover() == gw::SwapRecovery::removed);
    CHECK(read_file(key) == old_pair.key_pem);
    CHECK(read_file(cert) == old_pair.chain_pem);
    CHECK(no_pending());
  }
  SECTION("a central.cert.new cut short: removed") {
    write_private(dir / "client.key.new", new_pair.key_pem);
    write_file(dir / "client.pem.new", new_pair.chain_pem.substr(0, new_pair.chain_pem.size() / 3));
    CHECK(recover() == gw::SwapRecovery::removed);
    CHECK(read_file(key) == old_pair.key_pem);
    CHECK(no_pending());
  }
  // Whatever happened, the files in place match.
  const auto chain = gw::read_certificates(read_file(cert));
  const auto in_place = gw::read_private_key(read_file(key), "");
  REQUIRE(!chain.empty());
  CHECK(gw::certificate_matches_key(chain.front().get(), in_place.get()));
}

TEST_CASE("tls material: loaded from the files, re-read when mtime, size or inode change", "[cert][tls]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  const Pair first = make_pair(dir, "first");
  const Pair second = make_pair(dir, "second");
  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem"));
  gw::store_credentials(dir / "client.pem", dir / "client.key", first.key_pem, first.chain_pem);
  auto capture = std::make_shared<medgw::test::LogCapture>();
  gw::TlsMaterialSource source({dir / "central-ca.pem", {}, dir / "client.pem", dir / "client.key", {}},
                                   medgw::test::capture_logger(capture, "cert"), std::chrono::milliseconds(0));
  const auto loaded = source.current();
  REQUIRE(loaded);
  const auto material = *loaded;
  CHECK(material->chain().size() == 2);
  CHECK(material->authorities().size() == 1);
  CHECK(source.current().value() == material);  // unchanged: the same material
  CHECK(source.reloads() == 0);

  // A renewal: new inode for both files.
  gw::store_credentials(dir / "client.pem", dir / "client.key", second.key_pem, second.chain_pem);
  const auto renewed = source.current().value();
  CHECK(renewed != material);
  CHECK(X509_cmp(renewed->chain().front().get(), material->chain().front().get()) != 0);
  CHECK(source.reloads() == 1);
  CHECK(capture->contains("event=cert.reloaded"));

  // The CA file rewritten in place with more certificates (size), then only touched (mtime).
  certs::make_ca(dir, "other");
  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem") + read_file(dir / "other.pem"));
  CHECK(source.current().value()->authorities().size() == 2);
  CHECK(source.reloads() == 2);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1'900'000'000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (dir / "central-ca.pem").c_str(), times, 0) == 0);
  (void)source.current();
  CHECK(source.reloads() == 3);

  // A changed file that does not load keeps the material in force.
  const auto before = source.current().value();
  write_file(dir / "central-ca.pem", "not a certificate");
  CHECK(source.current().value() == before);
  CHECK(source.reloads() == 3);
  CHECK(capture->contains("event=cert.reload_failed"));
  // No secret in the log.
  CHECK(capture->text().find("PRIVATE KEY") == std::string::npos);
}

TEST_CASE("tls material: changes are looked for at most once per check interval", "[cert][tls]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  certs::make_ca(dir, "other");
  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem"));
  gw::TlsMaterialSource source({dir / "central-ca.pem", {}, {}, {}, {}}, medgw::log::Logger(nullptr, "cert"),
                                   std::chrono::hours(1));
  REQUIRE(source.current());
  write_file(dir / "central-ca.pem", read_file(dir / "ca.pem") + read_file(dir / "other.pem"));
  CHECK(source.current().value()->authorities().size() == 1);  // not looked at yet
  source.check_soon();
  CHECK(source.current().value()->authorities().size() == 2);
}

TEST_CASE("tls material: refuses a key of another certificate, a key readable by others, a missing CA", "[cert][tls]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  const Pair first = make_pair(dir, "first");
  const Pair second = make_pair(dir, "second");
  write_file(dir / "client.pem", first.chain_pem);
  write_private(dir / "client.key", second.key_pem);
  const gw::TlsFiles files{dir / "ca.pem", {}, dir / "client.pem", dir / "client.key", {}};
  CHECK(gw::TlsMaterial::load(files).error().code == "key_mismatch");
  write_private(dir / "client.key", first.key_pem);
  REQUIRE(gw::TlsMaterial::load(files));
  fs::permissions(dir / "client.key", fs::perms::group_read, fs::perm_options::add);
  CHECK(gw::TlsMaterial::load(files).error().code == "key_unreadable");
  CHECK(gw::TlsMaterial::load({dir / "missing.pem", {}, {}, {}, {}}).error().code == "ca_unreadable");
}

TEST_CASE("tls material: a CRL is loaded, checked for the whole chain, and refuses a revoked certificate", "[cert][tls]") {
  TempDir dir;
  certs::make_ca(dir, "ca");
  const Pair client = make_pair(dir, "client");
  const Pair revoked = make_pair(dir, "revoked");
  write_file(dir / "crl.pem", make_crl(dir, "ca", revoked.chain_pem));
  const auto material = gw::TlsMaterial::load({dir / "ca.pem", dir / "crl.pem", {}, {}, {}});
  REQUIRE(material);
  CHECK((*material)->crl_count() == 1);

  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  REQUIRE((*material)->configure(context.get()));
  X509_STORE* store = SSL_CTX_get_cert_store(context.get());
  const unsigned long flags = X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(store));
  CHECK((flags & X509_V_FLAG_CRL_CHECK) != 0);
  CHECK((flags & X509_V_FLAG_CRL_CHECK_ALL) != 0);

  // The store the connection gets: the good certificate verifies, the revoked one does not.
  const auto verify = [&](const std::string& pem) {
    const auto chain = gw::read_certificates(pem);
    const medgw::base::openssl::X509StoreContext check(X509_STORE_CTX_new());
    REQUIRE(X509_STORE_CTX_init(check.get(), store, chain.front().get(), nullptr) == 1);
    return X509_verify_cert(check.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(check.get());
  };
  CHECK(verify(client.chain_pem) == X509_V_OK);
  CHECK(verify(revoked.chain_pem) == X509_V_ERR_CERT_REVOKED);

  write_file(dir / "crl.pem", "no CRL here");
  CHECK(gw::TlsMaterial::load({dir / "ca.pem", dir / "crl.pem", {}, {}, {}}).error().code == "crl_invalid");
}
