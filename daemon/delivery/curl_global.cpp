#include <daemon/delivery/curl_global.hpp>

#include <stdexcept>
#include <string>

#include <curl/curl.h>

namespace medgw::daemon {

CurlGlobal::CurlGlobal() {
  if (const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    throw std::runtime_error(std::string("libcurl could not be set up: ") + curl_easy_strerror(code));
  }
}

CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

}  // namespace medgw::daemon
