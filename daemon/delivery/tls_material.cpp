#include <daemon/delivery/tls_material.hpp>

#include <base/private_file.hpp>

#include <exception>
#include <utility>

#include <sys/stat.h>

#include <openssl/x509_vfy.h>

namespace medgw::daemon {
namespace {

constexpr unsigned long crl_flags = X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;

base::Result<Certificates> load_authorities(const std::filesystem::path& file) {
  std::string text;
  if (!read_text_file(file.string(), text)) return base::fail("ca_unreadable", "central.ca: cannot read " + file.string());
  Certificates authorities = read_certificates(text);
  if (authorities.empty()) return base::fail("ca_invalid", "central.ca: " + file.string() + " holds no PEM certificate");
  return authorities;
}

base::Result<std::vector<base::openssl::X509Crl>> load_crls(const std::filesystem::path& file) {
  std::vector<base::openssl::X509Crl> none;
  if (file.empty()) return none;
  std::string text;
  if (!read_text_file(file.string(), text)) return base::fail("crl_unreadable", "central.crl: cannot read " + file.string());
  auto crls = read_crls(text);
  if (crls.empty()) return base::fail("crl_invalid", "central.crl: " + file.string() + " holds no PEM CRL");
  return crls;
}

base::Result<Certificates> load_chain(const TlsFiles& files) {
  std::string text;
  if (!read_text_file(files.cert.string(), text)) {
    return base::fail("cert_unreadable", "central.cert: cannot read " + files.cert.string());
  }
  Certificates chain = read_certificates(text);
  if (chain.empty()) return base::fail("cert_invalid", "central.cert: " + files.cert.string() + " holds no PEM certificate");
  return chain;
}

base::Result<base::openssl::Pkey> load_key(const TlsFiles& files) {
  base::openssl::Pkey key;
  try {
    const base::SecureBytes bytes = base::read_private_file(files.key);  // refuses a group/other-readable key
    key = read_private_key(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                           files.key_password);
  } catch (const std::exception& error) {
    return base::fail("key_unreadable", std::string("central.key: ") + error.what());
  }
  if (!key) {
    return base::fail("key_invalid", "central.key: " + files.key.string() + " holds no private key that opens" +
                                         (files.key_password.empty() ? "" : " with central.key_password_file"));
  }
  return key;
}

std::string describe(const base::Error& error) { return error.message; }

}  // namespace

base::Result<std::shared_ptr<const TlsMaterial>> TlsMaterial::load(const TlsFiles& files) {
  auto material = std::make_shared<TlsMaterial>();
  auto authorities = load_authorities(files.ca);
  if (!authorities) return base::fail(authorities.error());
  material->authorities_ = std::move(*authorities);
  auto crls = load_crls(files.crl);
  if (!crls) return base::fail(crls.error());
  material->crls_ = std::move(*crls);
  if (files.cert.empty()) return std::shared_ptr<const TlsMaterial>(std::move(material));
  auto chain = load_chain(files);
  if (!chain) return base::fail(chain.error());
  auto key = load_key(files);
  if (!key) return base::fail(key.error());
  if (!certificate_matches_key(chain->front().get(), key->get())) {
    return base::fail("key_mismatch", "central.key: " + files.key.string() + " is not the key of the certificate in " +
                                          files.cert.string());
  }
  material->chain_ = std::move(*chain);
  material->key_ = std::move(*key);
  return std::shared_ptr<const TlsMaterial>(std::move(material));
}

bool TlsMaterial::configure(SSL_CTX* context) const {
  base::openssl::X509Store store(X509_STORE_new());
  if (!store) return false;
  for (const auto& authority : authorities_) {
    if (X509_STORE_add_cert(store.get(), authority.get()) != 1) return false;
  }
  for (const auto& crl : crls_) {
    if (X509_STORE_add_crl(store.get(), crl.get()) != 1) return false;
  }
  if (!crls_.empty()) {
    X509_STORE_set_flags(store.get(), crl_flags);
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context), crl_flags);
  }
  SSL_CTX_set_cert_store(context, store.release());  // owns it now; the store libcurl filled is freed
  if (chain_.empty()) return true;
  if (SSL_CTX_use_certificate(context, chain_.front().get()) != 1) return false;
  SSL_CTX_clear_chain_certs(context);
  for (std::size_t i = 1; i < chain_.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(context, chain_[i].get()) != 1) return false;
  }
  return SSL_CTX_use_PrivateKey(context, key_.get()) == 1 && SSL_CTX_check_private_key(context) == 1;
}

FileStamp file_stamp(const std::filesystem::path& file) {
  struct stat info {};
  if (file.empty() || ::stat(file.c_str(), &info) != 0) return {};
  return {static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec,
          static_cast<std::uintmax_t>(info.st_size), static_cast<std::uintmax_t>(info.st_ino)};
}

TlsMaterialSource::TlsMaterialSource(TlsFiles files, log::Logger logger, std::chrono::milliseconds check_interval)
    : files_(std::move(files)), logger_(std::move(logger)), check_interval_(check_interval) {}

TlsMaterialSource::Stamps TlsMaterialSource::stamps() const {
  return {file_stamp(files_.ca), file_stamp(files_.crl), file_stamp(files_.cert), file_stamp(files_.key)};
}

base::Result<std::shared_ptr<const TlsMaterial>> TlsMaterialSource::current() {
  const std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (!checked_ || material_ == nullptr || now - checked_at_ >= check_interval_) {
    checked_ = true;
    checked_at_ = now;
    const Stamps seen = stamps();
    if (material_ == nullptr || seen != stamps_) {
      auto loaded = TlsMaterial::load(files_);
      if (loaded) {
        if (material_ != nullptr) {
          ++reloads_;
          logger_.info("cert.reloaded", "the TLS files changed; new connections to the central use them",
                       {{"ca_changed", seen[0] != stamps_[0]}, {"crl_changed", seen[1] != stamps_[1]},
                        {"cert_changed", seen[2] != stamps_[2] || seen[3] != stamps_[3]}});
        }
        material_ = std::move(*loaded);
      } else if (material_ != nullptr) {
        logger_.warn("cert.reload_failed", "a TLS file changed but cannot be used; the previous ones stay in force",
                     {{"error", describe(loaded.error())}});
      } else {
        load_error_ = loaded.error();
      }
      stamps_ = seen;  // a broken file is looked at again once it changes again
    }
  }
  if (material_ == nullptr) return base::fail(load_error_);
  return material_;
}

void TlsMaterialSource::check_soon() {
  const std::lock_guard lock(mutex_);
  checked_ = false;
}

std::uint64_t TlsMaterialSource::reloads() const {
  const std::lock_guard lock(mutex_);
  return reloads_;
}

void TlsMaterialSource::apply(CURL* easy) {
  (void)current();  // a failure shows in the connection (and was reported where the drain started)
  // Only the configured CAs (set in the callback): no file, no system store, no cache.
  curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
  // A resumed TLS session would carry the identity it was made with.
  curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &TlsMaterialSource::on_ssl_context);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, this);
}

CURLcode TlsMaterialSource::on_ssl_context(CURL*, void* ssl_context, void* self) {
  auto& source = *static_cast<TlsMaterialSource*>(self);
  std::shared_ptr<const TlsMaterial> material;
  {
    const std::lock_guard lock(source.mutex_);
    material = source.material_;
  }
  if (material == nullptr || !material->configure(static_cast<SSL_CTX*>(ssl_context))) return CURLE_SSL_CERTPROBLEM;
  return CURLE_OK;
}

}  // namespace medgw::daemon
