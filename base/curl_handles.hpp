#pragma once
// RAII for libcurl handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links libcurl itself.
#include <memory>

#include <curl/curl.h>

namespace medgw::base::curl {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

using Easy = std::unique_ptr<CURL, Deleter<curl_easy_cleanup>>;
using Multi = std::unique_ptr<CURLM, Deleter<curl_multi_cleanup>>;
using Slist = std::unique_ptr<curl_slist, Deleter<curl_slist_free_all>>;
using Url = std::unique_ptr<CURLU, Deleter<curl_url_cleanup>>;

}  // namespace medgw::base::curl
