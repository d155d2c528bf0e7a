#pragma once
// An owning pointer to a C library's handle, freed by that library's own
// function: CHandle<CURL, curl_easy_cleanup>. The per-library headers
// (openssl_handles.hpp, curl_handles.hpp, archive_handles.hpp) name theirs
// with it, so each handle type has exactly one deleter.
#include <memory>

namespace medgw::base {

template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace medgw::base
