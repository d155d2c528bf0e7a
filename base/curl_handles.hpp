#pragma once
// RAII for libcurl handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links libcurl itself.
#include <base/c_handle.hpp>

#include <memory>

#include <curl/curl.h>

namespace medgw::base::curl {

using Easy = CHandle<CURL, curl_easy_cleanup>;
using Multi = CHandle<CURLM, curl_multi_cleanup>;
using Slist = CHandle<curl_slist, curl_slist_free_all>;
using Url = CHandle<CURLU, curl_url_cleanup>;

}  // namespace medgw::base::curl
