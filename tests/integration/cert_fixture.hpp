#pragma once
// A throwaway PKI made with the openssl command (not with the code under
// test): CAs, certificates issued for a request, PKCS#7 certs-only answers
// as an EST server sends them, and CRLs.
#include <daemon/delivery/enrollment.hpp>

#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace medgw::test::certs {

inline void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

inline std::string arg(const std::filesystem::path& file) { return "'" + file.string() + "'"; }

// A self-signed EC CA: NAME.pem and NAME.key in `dir`.
inline void make_ca(const TempDir& dir, const std::string& name) {
  sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + arg(dir / (name + ".key")) +
     " -out " + arg(dir / (name + ".pem")) + " -subj /CN=" + name + " -days 30" +
     " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
}

// Issues OUT.pem for the DER request in `csr_der` (its subject) with CA `ca`.
inline void issue(const TempDir& dir, const std::string& ca, const std::string& csr_der, const std::string& out,
                  const std::string& days = "30") {
  static int serial = 4096;
  write_file(dir / (out + ".csr"), csr_der);
  const std::string extensions = (dir / (out + ".ext")).string();
  write_file(extensions, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n");
  sh("openssl req -inform DER -in " + arg(dir / (out + ".csr")) + " -out " + arg(dir / (out + ".req")));
  sh("openssl x509 -req -in " + arg(dir / (out + ".req")) + " -CA " + arg(dir / (ca + ".pem")) + " -CAkey " +
     arg(dir / (ca + ".key")) + " -set_serial " + std::to_string(++serial) + " -days " + days + " -extfile " +
     arg(extensions) + " -out " + arg(dir / (out + ".pem")));
}

// A new key (KEY.key) and a certificate for it (KEY.pem) with CN=`cn`.
inline medgw::daemon::Certificates key_and_certificate(const TempDir& dir, const std::string& ca, const std::string& cn,
                                                const std::string& name) {
  const base::openssl::Pkey key = medgw::daemon::generate_p256_key();
  write_file(dir / (name + ".key"), medgw::daemon::private_key_pem(key.get()));
  std::filesystem::permissions(dir / (name + ".key"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  issue(dir, ca, medgw::daemon::make_csr_der(key.get(), cn), name);
  return medgw::daemon::read_certificates(read_file(dir / (name + ".pem")));
}

// The body of an EST answer: base64 (with line breaks) of a DER PKCS#7
// certs-only holding the PEM files given, in order.
inline std::string est_answer(const TempDir& dir, const std::vector<std::string>& pem_names) {
  std::string files;
  for (const auto& name : pem_names) files += " -certfile " + arg(dir / (name + ".pem"));
  sh("openssl crl2pkcs7 -nocrl" + files + " -outform DER -out " + arg(dir / "answer.p7"));
  sh("openssl base64 -in " + arg(dir / "answer.p7") + " -out " + arg(dir / "answer.b64"));
  return read_file(dir / "answer.b64");
}

}  // namespace medgw::test::certs
